"""Task bodies of the trends and report DAGs: plain functions, so DAG files stay thin and tests call them.

Who does what (one owner per step): a load writes facts and announces the run dates it touched in its
Asset event; `trends.refresh_trends` rebuilds the daily table for those days (plus the trailing window);
`alerting.detect_and_alert` re-detects regressions for the window ends that changed and alerts new episodes
once; `report.render_report` only reads, on one connection. Each returns a small JSON-safe summary for
XCom; heavy imports (pandas) happen only when they run. Configuration comes from `cekura_livekit.config`.
"""

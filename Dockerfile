# Production image: the official Airflow 3.3.2 image plus this provider, the DAGs and the suites.
#
# The provider is installed ONCE, as a package (site-packages). It is deliberately NOT copied into
# /opt/airflow/plugins as well: Airflow appends the plugins folder to the END of sys.path, so a second copy
# there is silently shadowed by the installed one (editing a mounted plugins/ would change nothing). The
# package install is the one that also registers the provider with ProvidersManager (connection forms,
# the "Cekura result" extra link, the notifier), so it is the copy we keep; plugins/cekura_plugin.py is only
# for plugins-folder-only platforms and is not needed here.
#
# Build:  docker build -t cekura-airflow .                    (production, the default last stage)
#         docker build -t cekura-sandbox --target sandbox .   (the demo stand-ins, never in production)

FROM apache/airflow:3.3.2-python3.11 AS sandbox
# The sandbox (Cekura API + LiveKit stand-ins) is its own distribution (top-level sandbox/, package
# cekura_sandbox). It lives only in this demo stage, so the production image cannot start it by accident.
COPY --chown=airflow:root sandbox /opt/airflow/sandbox-src
# Airflow is pinned in the same pip call, so the resolver can never move the image's Airflow.
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" /opt/airflow/sandbox-src
EXPOSE 8700 7880
ENTRYPOINT ["cekura-sandbox"]
CMD ["--host", "0.0.0.0"]

FROM apache/airflow:3.3.2-python3.11 AS production
ENV CEKURA_SUITES_DIR=/opt/airflow/include/suites \
    CEKURA_REPORT_DESTINATION=/opt/airflow/reports/cekura_report.html
COPY --chown=airflow:root requirements.txt /opt/airflow/requirements.txt
COPY --chown=airflow:root pyproject.toml README.md /opt/airflow/provider-src/
COPY --chown=airflow:root plugins/cekura_livekit /opt/airflow/provider-src/plugins/cekura_livekit
# One pip call: apache-airflow==${AIRFLOW_VERSION} (set by the base image) next to requirements.txt and the
# provider, the official image's documented way to add packages without pip upgrading or downgrading Airflow.
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" \
        -r /opt/airflow/requirements.txt /opt/airflow/provider-src \
    && mkdir -p /opt/airflow/reports
COPY --chown=airflow:root dags /opt/airflow/dags
# The plugin serves the webhook receiver in the api-server (docs/webhooks.md) and registers the extra link.
COPY --chown=airflow:root plugins/cekura_plugin.py /opt/airflow/plugins/cekura_plugin.py
COPY --chown=airflow:root include /opt/airflow/include

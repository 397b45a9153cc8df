"""Cekura's webhooks as Airflow's fast path (issue 22): receive, verify, record, wake, feed.

`delivery` (what a webhook says, parsed and classified), `secret` (the shared secret from an Airflow
connection, compared in constant time), `config` (where the channel lives: the metadata PostgreSQL, or
nothing), `channel` (the receiver's side: one idempotent INSERT + NOTIFY per delivery), `listener` (the
triggerer's side: one LISTEN connection per triggerer process, fanned out to every waiting result), `app`
(the FastAPI receiver, served by the api-server plugin or standalone by `service`), `feed` (results no
Airflow task submitted, as asset events through an AssetWatcher).

A webhook is only ever a hint: waits re-read the result from the API, the sync DAG loads from the API.
"""

# Astro-style image: the official Airflow 3.3 image plus this project's plugins, DAGs and suites.
FROM apache/airflow:3.3.2-python3.11

COPY --chown=airflow:root requirements.txt /opt/airflow/requirements.txt
RUN pip install --no-cache-dir -r /opt/airflow/requirements.txt

# plugins/ holds the provider package (importable as cekura_livekit) and the AirflowPlugin for its links;
# installing it as well registers the provider (connection forms, extra links) with ProvidersManager.
COPY --chown=airflow:root pyproject.toml README.md /opt/airflow/project/
COPY --chown=airflow:root plugins /opt/airflow/project/plugins
RUN pip install --no-cache-dir --no-deps /opt/airflow/project

COPY --chown=airflow:root plugins /opt/airflow/plugins
COPY --chown=airflow:root dags /opt/airflow/dags
COPY --chown=airflow:root include /opt/airflow/include

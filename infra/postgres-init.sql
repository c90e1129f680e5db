-- Databases of the compose stack besides Airflow's (created by POSTGRES_DB).
CREATE DATABASE mlflow;
CREATE DATABASE mlflow_auth;
CREATE DATABASE erp;

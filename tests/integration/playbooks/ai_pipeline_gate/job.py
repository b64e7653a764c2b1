"""A stand-in training job: log in to PostgreSQL with the credentials the gate minted, record who it was.

Usage: job.py <pg_port> <out_file> [exit_code]. Reads the env-format credentials file named by
AINATIVE_JOB_CREDENTIALS, the way a real job would (it never sees a static secret).
"""

import json
import os
import sys

import psycopg2


def read_env_file(path):
    values = {}
    with open(path) as handle:
        for line in handle:
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            key, value = line.split("=", 1)
            values[key] = value.strip("'\"")
    return values


def main(argv):
    port, out = int(argv[1]), argv[2]
    exit_code = int(argv[3]) if len(argv) > 3 else 0
    creds = read_env_file(os.environ["AINATIVE_JOB_CREDENTIALS"])
    conn = psycopg2.connect(host="127.0.0.1", port=port, user=creds["DB_USERNAME"], password=creds["DB_PASSWORD"],
                            dbname="postgres", connect_timeout=5)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT current_user")
        who = cur.fetchone()[0]
    conn.close()
    with open(out, "w") as handle:
        json.dump({"user": who, "lease_id": creds.get("DB_LEASE_ID"), "password": creds["DB_PASSWORD"]}, handle)
    if exit_code:
        sys.stderr.write("training failed on purpose (exit %d)\n" % exit_code)
    return exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv))

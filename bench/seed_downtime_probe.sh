#!/bin/bash
# The runbook's continuous "no sleep" downtime probe (redis_downtime_probe.sh), kept as it is but for its
# settings, which come from the command line so that the comparison benchmark can run it against a local
# server: HOST PORT RUN_DURATION SUCCESS_LOG ERROR_LOG. Three redis-cli forks per check, no timeout.
REDIS_HOST="$1"
REDIS_PORT="$2"
RUN_DURATION="$3"
CYCLES=1
SUCCESS_LOG="$4"
ERROR_LOG="$5"
REDIS_CLI="${REDIS_CLI:-redis-cli}"

COUNT=1

for cycle in $(seq 1 $CYCLES); do
    echo "=== Cycle $cycle started at $(date '+%Y-%m-%d %H:%M:%S.%3N') ===" >> "$SUCCESS_LOG"
    echo "=== Cycle $cycle started at $(date '+%Y-%m-%d %H:%M:%S.%3N') ===" >> "$ERROR_LOG"

    START_TIME=$(date +%s)
    END_TIME=$((START_TIME + RUN_DURATION))

    while [ $(date +%s) -lt $END_TIME ]; do
        TIMESTAMP=$(date '+%Y-%m-%d %H:%M:%S.%3N')  # include milliseconds
        TEMP_KEY="healthcheck_$RANDOM"

        SET_RESPONSE=$($REDIS_CLI -h "$REDIS_HOST" -p "$REDIS_PORT" SET "$TEMP_KEY" "ok" 2>&1)
        if [[ "$SET_RESPONSE" == "OK" ]]; then
            GET_RESPONSE=$($REDIS_CLI -h "$REDIS_HOST" -p "$REDIS_PORT" GET "$TEMP_KEY" 2>&1)
            $REDIS_CLI -h "$REDIS_HOST" -p "$REDIS_PORT" DEL "$TEMP_KEY" >/dev/null 2>&1

            if [[ "$GET_RESPONSE" == "ok" ]]; then
                echo "$TIMESTAMP SUCCESS $COUNT: Redis read/write OK" >> "$SUCCESS_LOG"
            else
                echo "$TIMESTAMP FAILURE $COUNT: GET failed → Response: $GET_RESPONSE" >> "$ERROR_LOG"
            fi
        else
            echo "$TIMESTAMP FAILURE $COUNT: SET failed → Response: $SET_RESPONSE" >> "$ERROR_LOG"
        fi

        COUNT=$((COUNT+1))
    done
done

echo "=== All cycles finished at $(date '+%Y-%m-%d %H:%M:%S.%3N') ===" >> "$SUCCESS_LOG"
echo "=== All cycles finished at $(date '+%Y-%m-%d %H:%M:%S.%3N') ===" >> "$ERROR_LOG"

#!/usr/bin/env bash
# Real test services on loopback: Apache Kafka (KRaft, from Maven Central), MinIO (built from the Go module proxy),
# PostgreSQL (Debian) in a private cluster, a Python venv with hop-client and confluent-kafka as real peers, and
# Debian's Chromium for the web pages' browser tests.
# Every wire also has a TLS variant, as production has: Kafka SASL_SSL, MinIO over HTTPS (a second instance), and
# PostgreSQL with ssl = on, all with server certificates of a throwaway test CA made here with openssl.
#
#   scripts/services.sh up [kafka|minio|postgres|python|chromium ...]  install what is missing, start, wait until ready
#   scripts/services.sh down [service ...]                      stop only what `up` started
#   scripts/services.sh status                                  one line per service
#   scripts/services.sh env                                     `export` lines for tests and tools
#   scripts/services.sh toxiproxy                               build Toxiproxy if missing; print its path
#
# Downloads and builds are cached in $HK_CACHE_DIR (default ~/.cache/housekeeping); runtime data, logs and pid files
# live in $HK_STATE_DIR (default /var/tmp/housekeeping: PostgreSQL runs as an unprivileged user that cannot enter
# /root). Ports are fixed and unusual so that nothing collides with system services; each has an HK_*_PORT override.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${HK_CACHE_DIR:-$HOME/.cache/housekeeping}
STATE=${HK_STATE_DIR:-/var/tmp/housekeeping}

KAFKA_VERSION=4.1.1
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
TOXIPROXY_VERSION=v2.12.0
HOP_CLIENT_VERSION=0.13.0
CONFLUENT_KAFKA_VERSION=2.16.1

KAFKA_PORT=${HK_KAFKA_PORT:-19092}
KAFKA_SASL_PORT=${HK_KAFKA_SASL_PORT:-19093}
KAFKA_CONTROLLER_PORT=${HK_KAFKA_CONTROLLER_PORT:-19094}
MINIO_PORT=${HK_MINIO_PORT:-19000}
PG_PORT=${HK_PG_PORT:-15433}
KAFKA_SSL_PORT=${HK_KAFKA_SSL_PORT:-19095}
MINIO_SSL_PORT=${HK_MINIO_SSL_PORT:-19010}
TLS_DIR=$STATE/tls

# Test-only credentials for services bound to 127.0.0.1; never used outside this machine.
KAFKA_USER=housekeeping
KAFKA_PASS=hk-test-secret
MINIO_USER=hk-minio
MINIO_PASS=hk-minio-secret
PG_USER=housekeeping
PG_PASS=hk-pg-secret
PG_DB=housekeeping
PG_OS_USER=hkpostgres
# Protects only the broker's PKCS#12 key store, a file in the state directory.
KEYSTORE_PASS=hk-keystore-secret

READY_TIMEOUT=${HK_READY_TIMEOUT:-120}

say() { printf '[services] %s\n' "$*" >&2; }
die() {
  printf '[services] ERROR: %s\n' "$*" >&2
  exit 1
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

apt_install() {
  say "installing Debian packages: $*"
  if [ ! -f "$STATE/.apt-updated" ]; then
    apt-get update -qq >/dev/null || die "apt-get update failed"
    mkdir -p "$STATE" && touch "$STATE/.apt-updated"
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null || die "apt-get install $* failed"
}

# wait_ready NAME LOG CHECK-COMMAND...: poll until the check passes or the timeout expires.
wait_ready() {
  local name=$1 log=$2
  shift 2
  local deadline=$((SECONDS + READY_TIMEOUT))
  until "$@"; do
    if [ $SECONDS -ge $deadline ]; then
      tail -n 30 "$log" >&2 || true
      die "$name did not become ready within ${READY_TIMEOUT}s; its log is $log"
    fi
    sleep 0.5
  done
  say "$name ready"
}

# ------------------------------------------------------------------------------------------------------------ TLS
# A test CA and one server certificate (127.0.0.1 and localhost) for every TLS service. Cached in $TLS_DIR and
# made again when missing or within a day of expiring (running services keep the old ones until restarted).
tls_valid() { [ -f "$1" ] && openssl x509 -checkend 86400 -noout -in "$1" >/dev/null 2>&1; }

tls_certs() {
  local d=$TLS_DIR
  if tls_valid "$d/ca.crt" && tls_valid "$d/server.crt" && [ -f "$d/server.p12" ]; then return; fi
  command -v openssl >/dev/null || apt_install openssl
  say "making a test CA and server certificates in $d"
  mkdir -p "$d"
  chmod 755 "$d"
  (
    set -e
    cd "$d"
    rm -f ca.* server.*
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -sha256 -keyout ca.key -out ca.crt \
      -subj "/CN=housekeeping test CA" -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=localhost" 2>/dev/null
    printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
      "extendedKeyUsage=serverAuth" "subjectAltName=IP:127.0.0.1,DNS:localhost" >server.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 825 -sha256 \
      -extfile server.ext -out server.crt 2>/dev/null
    openssl pkcs12 -export -in server.crt -inkey server.key -certfile ca.crt -name server \
      -passout "pass:$KEYSTORE_PASS" -out server.p12
    chmod 644 ca.crt server.crt
    chmod 600 ca.key server.key server.p12
    rm -f server.csr server.ext
  ) || die "making the test certificates with openssl failed"
}

# ---------------------------------------------------------------------------------------------------------- Kafka
kafka_home() { echo "$CACHE/kafka-$KAFKA_VERSION"; }

kafka_install() {
  command -v java >/dev/null || apt_install default-jre-headless
  command -v mvn >/dev/null || apt_install maven
  local libs
  libs="$(kafka_home)/libs"
  local pom_sum
  pom_sum=$(sha256sum "$HERE/kafka/pom.xml" | cut -c1-16)
  if [ "$(cat "$libs/.complete" 2>/dev/null)" != "$pom_sum" ]; then
    rm -rf "$libs"
    say "resolving Kafka $KAFKA_VERSION from Maven Central (cached in $libs)"
    mkdir -p "$libs"
    mvn -q -B -f "$HERE/kafka/pom.xml" -Dkafka.version="$KAFKA_VERSION" dependency:copy-dependencies \
      -DoutputDirectory="$libs" -DincludeScope=runtime >"$CACHE/kafka-resolve.log" 2>&1 ||
      die "Maven could not resolve Kafka; see $CACHE/kafka-resolve.log"
    echo "$pom_sum" >"$libs/.complete"
  fi
}

KAFKA_JVM_OPTS=(-Xms256m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true
  "-Dlog4j2.configurationFile=$STATE/kafka/log4j2.properties")
kafka_java() { java "${KAFKA_JVM_OPTS[@]}" -cp "$(kafka_home)/libs/*" "$@"; }

kafka_listeners() {
  echo "PLAINTEXT://127.0.0.1:$KAFKA_PORT,SASL_PLAINTEXT://127.0.0.1:$KAFKA_SASL_PORT,SASL_SSL://127.0.0.1:$KAFKA_SSL_PORT"
}

# The SASL_SSL listener, as Hopskotch's brokers run it: SCRAM only, server certificate of the test CA.
kafka_ssl_listener_config() {
  cat <<EOF
advertised.listeners=$(kafka_listeners)
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT
listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.ssl.keystore.type=PKCS12
listener.name.sasl_ssl.ssl.keystore.location=$TLS_DIR/server.p12
listener.name.sasl_ssl.ssl.keystore.password=$KEYSTORE_PASS
listener.name.sasl_ssl.ssl.key.password=$KEYSTORE_PASS
EOF
}

kafka_configure() {
  local dir=$STATE/kafka
  mkdir -p "$dir"
  cat >"$dir/log4j2.properties" <<EOF
rootLogger.level = WARN
rootLogger.appenderRef.stdout.ref = STDOUT
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
logger.raftserver.name = kafka.server.KafkaRaftServer
logger.raftserver.level = INFO
EOF
  cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=$(kafka_listeners),CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256,PLAIN
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$KAFKA_USER="$KAFKA_PASS";
$(kafka_ssl_listener_config)
auto.create.topics.enable=false
# Archives must accept what producers send: Kafka 4 refuses timestamps over an hour ahead by default.
log.message.timestamp.after.max.ms=9223372036854775807
delete.topic.enable=true
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
message.max.bytes=33554432
replica.fetch.max.bytes=33554432
log.dirs=$dir/data
log.segment.bytes=67108864
num.io.threads=4
num.network.threads=2
EOF
}

kafka_up() {
  local dir=$STATE/kafka
  tls_certs
  if pid_alive "$dir/pid"; then
    if grep -q "SASL_SSL://127.0.0.1:$KAFKA_SSL_PORT" "$dir/server.properties" 2>/dev/null; then
      say "kafka already running (pid $(cat "$dir/pid"))"
      return
    fi
    # Started by an older `up`, without the SASL_SSL listener. KRaft cannot add an advertised listener to a
    # running broker, so it restarts once (topics, offsets and SCRAM users are kept in its data directory).
    say "kafka (pid $(cat "$dir/pid")) has no SASL_SSL listener: restarting it with one"
    stop_pidfile kafka "$dir/pid"
  fi
  kafka_install
  kafka_configure
  if [ ! -f "$dir/data/meta.properties" ]; then
    say "formatting KRaft storage with SCRAM user '$KAFKA_USER'"
    local cluster_id
    cluster_id=$(kafka_java kafka.tools.StorageTool random-uuid 2>>"$dir/format.log" | tail -n 1)
    kafka_java kafka.tools.StorageTool format --standalone -t "$cluster_id" -c "$dir/server.properties" \
      --add-scram "SCRAM-SHA-512=[name=$KAFKA_USER,password=$KAFKA_PASS]" \
      --add-scram "SCRAM-SHA-256=[name=$KAFKA_USER,password=$KAFKA_PASS]" >>"$dir/format.log" 2>&1 ||
      die "formatting Kafka storage failed; see $dir/format.log"
  fi
  say "starting kafka on 127.0.0.1:$KAFKA_PORT (SASL_PLAINTEXT :$KAFKA_SASL_PORT, SASL_SSL :$KAFKA_SSL_PORT); log $dir/kafka.log"
  nohup java "${KAFKA_JVM_OPTS[@]}" -cp "$(kafka_home)/libs/*" kafka.Kafka "$dir/server.properties" \
    >"$dir/kafka.log" 2>&1 3>&- &
  echo $! >"$dir/pid"
  wait_ready kafka "$dir/kafka.log" kafka_ready
}

kafka_ready() {
  pid_alive "$STATE/kafka/pid" || {
    tail -n 30 "$STATE/kafka/kafka.log" >&2
    die "kafka exited during start-up; its log is $STATE/kafka/kafka.log"
  }
  port_open "$KAFKA_PORT" && port_open "$KAFKA_SASL_PORT" && port_open "$KAFKA_SSL_PORT" && grep -q "Kafka Server started" "$STATE/kafka/kafka.log"
}

# ------------------------------------------------------------------------------------------------------ Toxiproxy
# A TCP proxy that adds latency: the benchmark puts it between the archiver and MinIO to act like a distant S3.
toxiproxy_bin() { echo "$CACHE/bin/toxiproxy-$TOXIPROXY_VERSION"; }

toxiproxy_install() {
  [ -x "$(toxiproxy_bin)" ] && return
  command -v go >/dev/null || die "Go is needed to build Toxiproxy (go install); install Go and retry"
  say "building Toxiproxy $TOXIPROXY_VERSION with go install (cached after)"
  local gobin
  gobin=$(mktemp -d)
  GOBIN=$gobin GOFLAGS=-trimpath go install "github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_VERSION" \
    >"$CACHE/toxiproxy-build.log" 2>&1 || die "building Toxiproxy failed; see $CACHE/toxiproxy-build.log"
  mkdir -p "$CACHE/bin"
  mv "$gobin/server" "$(toxiproxy_bin)"
  rm -rf "$gobin"
}

# ---------------------------------------------------------------------------------------------------------- MinIO
minio_bin() { echo "$CACHE/bin/minio-$MINIO_VERSION"; }

minio_install() {
  [ -x "$(minio_bin)" ] && return
  command -v go >/dev/null || die "Go is needed to build MinIO (go install); install Go and retry"
  say "building MinIO $MINIO_VERSION with go install (several minutes the first time; cached after)"
  local gobin
  gobin=$(mktemp -d)
  GOBIN=$gobin GOFLAGS=-trimpath go install "github.com/minio/minio@$MINIO_VERSION" >"$CACHE/minio-build.log" 2>&1 ||
    die "building MinIO failed; see $CACHE/minio-build.log"
  mkdir -p "$CACHE/bin"
  mv "$gobin/minio" "$(minio_bin)"
  rm -rf "$gobin"
}

# Two instances: plain HTTP, and HTTPS with its own data directory (MinIO serves TLS only, on every port, once
# it has a certificate).
minio_up() {
  tls_certs
  minio_start minio "$MINIO_PORT" http
  local certs=$STATE/minio-tls/certs
  mkdir -p "$certs"
  cp "$TLS_DIR/server.crt" "$certs/public.crt"
  cp "$TLS_DIR/server.key" "$certs/private.key"
  minio_start minio-tls "$MINIO_SSL_PORT" https --certs-dir "$certs"
}

# minio_start NAME PORT SCHEME [ARGS...]
minio_start() {
  local name=$1 port=$2 scheme=$3 dir=$STATE/$1
  shift 3
  if pid_alive "$dir/pid"; then
    say "$name already running (pid $(cat "$dir/pid"))"
    return
  fi
  minio_install
  mkdir -p "$dir/data"
  say "starting $name on $scheme://127.0.0.1:$port; log $dir/minio.log"
  MINIO_ROOT_USER=$MINIO_USER MINIO_ROOT_PASSWORD=$MINIO_PASS MINIO_BROWSER=off MINIO_UPDATE=off \
    nohup "$(minio_bin)" server --quiet --address "127.0.0.1:$port" "$@" "$dir/data" >"$dir/minio.log" 2>&1 3>&- &
  echo $! >"$dir/pid"
  wait_ready "$name" "$dir/minio.log" minio_ready "$name" "$port" "$scheme"
}

minio_ready() {
  pid_alive "$STATE/$1/pid" || die "$1 exited during start-up; its log is $STATE/$1/minio.log"
  curl -fsS -o /dev/null --cacert "$TLS_DIR/ca.crt" "$3://127.0.0.1:$2/minio/health/ready" 2>/dev/null
}

# ----------------------------------------------------------------------------------------------------- PostgreSQL
pg_bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$d" ] && echo "$d"
}

pg_install() {
  [ -n "$(pg_bindir)" ] || apt_install postgresql
  id "$PG_OS_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$PG_OS_USER"
}

as_pg() { runuser -u "$PG_OS_USER" -- "$@"; }

pg_up() {
  local dir=$STATE/postgres bin
  pg_install
  bin=$(pg_bindir)
  mkdir -p "$dir"
  chown "$PG_OS_USER" "$dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    say "creating private PostgreSQL cluster in $dir/data"
    local pw
    pw=$(mktemp)
    printf '%s\n' "$PG_PASS" >"$pw"
    chown "$PG_OS_USER" "$pw"
    as_pg "$bin/initdb" -D "$dir/data" -U "$PG_USER" --pwfile="$pw" --auth-local=trust --auth-host=scram-sha-256 \
      -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || die "initdb failed; see $dir/initdb.log"
    rm -f "$pw"
  fi
  if as_pg "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    say "postgres already running"
  else
    say "starting postgres on 127.0.0.1:$PG_PORT; log $dir/postgres.log"
    as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t "$READY_TIMEOUT" \
      -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $dir -c max_connections=200 -c fsync=on" start >/dev/null ||
      die "postgres did not start; its log is $dir/postgres.log"
    touch "$dir/started-by-us"
  fi
  wait_ready postgres "$dir/postgres.log" "$bin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"
  if ! PGPASSWORD=$PG_PASS "$bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname='$PG_DB'" | grep -q 1; then
    PGPASSWORD=$PG_PASS "$bin/createdb" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" "$PG_DB"
  fi
  pg_ssl "$bin"
}

# ssl = on through ALTER SYSTEM and a reload, which also upgrades a server started by an older `up` without a
# restart. The server reads its key only when the key belongs to it and no one else may read it.
pg_ssl() {
  local bin=$1 data=$STATE/postgres/data
  tls_certs
  install -o "$PG_OS_USER" -m 600 "$TLS_DIR/server.crt" "$data/server.crt"
  install -o "$PG_OS_USER" -m 600 "$TLS_DIR/server.key" "$data/server.key"
  local psql=("$bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d postgres -qtA -v ON_ERROR_STOP=1)
  if [ "$(PGPASSWORD=$PG_PASS "${psql[@]}" -c "SHOW ssl")" != on ]; then
    PGPASSWORD=$PG_PASS "${psql[@]}" -c "ALTER SYSTEM SET ssl_cert_file = 'server.crt'" \
      -c "ALTER SYSTEM SET ssl_key_file = 'server.key'" -c "ALTER SYSTEM SET ssl = on" \
      -c "SELECT pg_reload_conf()" >/dev/null || die "turning on ssl in postgres failed"
    local deadline=$((SECONDS + 10))
    until [ "$(PGPASSWORD=$PG_PASS "${psql[@]}" -c "SHOW ssl")" = on ]; do
      [ $SECONDS -lt $deadline ] || die "postgres did not turn on ssl; see $STATE/postgres/postgres.log"
      sleep 0.2
    done
    say "postgres ssl on"
  fi
}

pg_down() {
  local dir=$STATE/postgres bin
  bin=$(pg_bindir) || return 0
  [ -f "$dir/started-by-us" ] || return 0
  as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -f "$dir/started-by-us"
  say "postgres stopped"
}

# --------------------------------------------------------------------------------------------------------- Python
python_up() {
  local venv=$CACHE/venv want="hop-client==$HOP_CLIENT_VERSION confluent-kafka==$CONFLUENT_KAFKA_VERSION six==1.17.0"
  if [ -f "$venv/.complete" ] && [ "$(cat "$venv/.complete")" = "$want" ]; then
    return
  fi
  command -v python3 >/dev/null || apt_install python3 python3-venv
  say "creating Python venv with $want in $venv"
  python3 -m venv "$venv" || die "python3 -m venv failed (apt-get install python3-venv?)"
  # shellcheck disable=SC2086
  "$venv/bin/pip" install -q $want >"$CACHE/pip.log" 2>&1 || die "pip install failed; see $CACHE/pip.log"
  echo "$want" >"$venv/.complete"
}

# ------------------------------------------------------------------------------------------------------ Chromium
# Debian's browser for the web pages' tests (tests/integration/web_browser_test.ts), driven by puppeteer-core; a
# browser build of puppeteer's own cannot be downloaded here.
chromium_up() {
  command -v chromium >/dev/null || apt_install chromium
}

# ---------------------------------------------------------------------------------------------------- dispatcher
stop_pidfile() {
  local name=$1 pidfile=$2
  if pid_alive "$pidfile"; then
    local pid
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
    kill -9 "$pid" 2>/dev/null || true
    say "$name stopped"
  fi
  rm -f "$pidfile"
}

service_up() {
  case $1 in
  kafka) kafka_up ;;
  minio) minio_up ;;
  postgres) pg_up ;;
  python) python_up ;;
  chromium) chromium_up ;;
  *) die "unknown service '$1' (kafka, minio, postgres, python, chromium)" ;;
  esac
}

service_down() {
  case $1 in
  kafka) stop_pidfile kafka "$STATE/kafka/pid" ;;
  minio)
    stop_pidfile minio "$STATE/minio/pid"
    stop_pidfile minio-tls "$STATE/minio-tls/pid"
    ;;
  postgres) pg_down ;;
  python | chromium) ;;
  *) die "unknown service '$1' (kafka, minio, postgres, python, chromium)" ;;
  esac
}

print_env() {
  cat <<EOF
export KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT
export KAFKA_SASL_BROKERS=127.0.0.1:$KAFKA_SASL_PORT
export KAFKA_USERNAME=$KAFKA_USER
export KAFKA_PASSWORD=$KAFKA_PASS
export S3_ENDPOINT=http://127.0.0.1:$MINIO_PORT
export AWS_ACCESS_KEY_ID=$MINIO_USER
export AWS_SECRET_ACCESS_KEY=$MINIO_PASS
export AWS_REGION=us-east-1
export DATABASE_URL=postgres://$PG_USER:$PG_PASS@127.0.0.1:$PG_PORT/$PG_DB
export KAFKA_SSL_BROKERS=127.0.0.1:$KAFKA_SSL_PORT
export KAFKA_CA_FILE=$TLS_DIR/ca.crt
export S3_SSL_ENDPOINT=https://127.0.0.1:$MINIO_SSL_PORT
export AWS_CA_BUNDLE=$TLS_DIR/ca.crt
export DATABASE_SSL_URL=postgres://$PG_USER:$PG_PASS@127.0.0.1:$PG_PORT/$PG_DB?sslmode=verify-full
export PGSSLROOTCERT=$TLS_DIR/ca.crt
export HOUSEKEEPING_PYTHON=$CACHE/venv/bin/python
export HOUSEKEEPING_CHROMIUM=$(command -v chromium || echo /usr/bin/chromium)
EOF
}

status() {
  pid_alive "$STATE/kafka/pid" && echo "kafka: running (pid $(cat "$STATE/kafka/pid"))" || echo "kafka: stopped"
  pid_alive "$STATE/kafka/pid" && port_open "$KAFKA_SSL_PORT" && echo "kafka SASL_SSL: running (:$KAFKA_SSL_PORT)" ||
    echo "kafka SASL_SSL: stopped"
  local m
  for m in minio minio-tls; do
    pid_alive "$STATE/$m/pid" && echo "$m: running (pid $(cat "$STATE/$m/pid"))" || echo "$m: stopped"
  done
  local bin
  bin=$(pg_bindir || true)
  if [ -n "$bin" ] && "$bin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; then echo "postgres: running"; else
    echo "postgres: stopped"
  fi
  [ -f "$CACHE/venv/.complete" ] && echo "python: ready ($CACHE/venv)" || echo "python: missing"
  command -v chromium >/dev/null && echo "chromium: ready ($(command -v chromium))" || echo "chromium: missing"
}

ALL=(python chromium postgres minio kafka)
cmd=${1:-}
[ $# -gt 0 ] && shift
mkdir -p "$CACHE" "$STATE"
case $cmd in
up)
  [ $# -gt 0 ] || set -- "${ALL[@]}"
  for s in "$@"; do service_up "$s"; done
  ;;
down)
  [ $# -gt 0 ] || set -- kafka minio postgres
  for s in "$@"; do service_down "$s"; done
  ;;
restart)
  for s in "$@"; do service_down "$s"; done
  for s in "$@"; do service_up "$s"; done
  ;;
status) status ;;
env) print_env ;;
toxiproxy)
  toxiproxy_install >&2
  toxiproxy_bin
  ;;
*)
  sed -n '2,15p' "$0" >&2
  exit 2
  ;;
esac

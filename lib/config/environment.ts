/**
 * Variables the drill reads that are not settings of its own: libpq's, Kubernetes', the system's. Each
 * is read where it is used, from the environment the CLI passes down (never `process.env`), and listed
 * here so --help names it; lib/config.test.ts fails when lib/ reads a variable that is in neither this
 * list nor SETTINGS.
 */
export const ENVIRONMENT: readonly { vars: readonly string[]; help: string }[] = [
  {
    vars: ['PGHOST', 'PGPORT', 'PGUSER', 'PGPASSWORD', 'PGDATABASE'],
    help: "describe the --target url server when --database-url is not given; PGUSER and PGPASSWORD also complete a URL without a user or password. The client tools are given the target's own values, never these",
  },
  {
    vars: ['PGSSLMODE', 'PGSSLROOTCERT'],
    help: "TLS to the --target url server when --database-url has no ?sslmode= (libpq's modes, disable to verify-full; verify-ca and verify-full need the root certificate, PGSSLROOTCERT or ~/.postgresql/root.crt), for the drill's own sessions and the client tools alike",
  },
  {
    vars: ['KUBECONFIG', 'HOME', 'USERPROFILE'],
    help: 'where the kubeconfig is looked for without --kubeconfig: the files KUBECONFIG lists, then ~/.kube/config',
  },
  {
    vars: ['KUBERNETES_SERVICE_HOST', 'KUBERNETES_SERVICE_PORT'],
    help: "the in-cluster API server, reached with the pod's service account; in a pod of a Job the drill also records a Kubernetes Event on the Job",
  },
  {
    vars: ['XDG_CACHE_HOME'],
    help: "the initdb cache's default directory for --target local: $XDG_CACHE_HOME/pg-restore-drill/initdb, else ~/.cache/pg-restore-drill/initdb (HOME)",
  },
  {
    vars: ['DOCKER_HOST', 'XDG_RUNTIME_DIR'],
    help: 'where --target auto and container look for a container engine, as testcontainers does (with ~/.testcontainers.properties, /var/run/docker.sock and the rootless sockets); with none of them there, auto takes local without loading testcontainers',
  },
  {
    vars: ['TMPDIR', 'TMP', 'TEMP'],
    help: "the system temp directory (os.tmpdir(): the first one set), for throwaway clusters and self-made backups without --temp-dir; when one is set, a self-contained drill's cluster stays there instead of in /dev/shm",
  },
  { vars: ['HOSTNAME'], help: "the Event's reporting instance when POD_NAME is not set" },
  {
    vars: ['PATH'],
    help: 'where pg_config and initdb are looked for without --pg-bindir; with HOME, LANG, LC_ALL, LC_CTYPE, LC_MESSAGES, TZ and TMPDIR, the only variables passed on to the client tools',
  },
];

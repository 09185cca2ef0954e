"""Published versions: the lock (lockfile), the artifact store (store), and the build stage that uses them (stage)."""

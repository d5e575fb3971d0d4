// Prints an htpasswd line (bcrypt, the only hash the registry's htpasswd auth accepts) for the
// local test registry, so nothing depends on apache2-utils being installed.
module palyra.dev/hack/registry/htpasswd

go 1.26.0

require golang.org/x/crypto v0.57.0

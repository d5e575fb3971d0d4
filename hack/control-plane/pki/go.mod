// Generates the local control plane's PKI (standard library only).
module palyra.dev/hack/control-plane/pki

go 1.26.0

#!/bin/sh
# Regenerates the throw-away test PKI used by storages/tests/it/http_tls.rs (valid 100 years).
# Nothing here protects anything: the private keys are public test fixtures.
set -eu
cd "$(dirname "$0")"
days=36500
ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"

# Two unrelated CAs.
for ca in ca other-ca; do
  openssl req -x509 $ec -keyout $ca.key -out $ca.pem -days $days -subj "/CN=davsync test $ca" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
done

# Server certificate for localhost / 127.0.0.1, signed by ca.
openssl req $ec -keyout server.key -out server.csr -subj "/CN=localhost"
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days $days -extfile server.ext

# Client certificate signed by ca; client.pem holds the chain and the key, as users give it.
openssl req $ec -keyout client.key -out client.csr -subj "/CN=alice"
printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n' > client.ext
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.crt -days $days -extfile client.ext
cat client.crt client.key > client.pem

# The pin of the server certificate, as verify_fingerprint takes it.
openssl x509 -in server.pem -outform der | openssl dgst -sha256 -r | cut -d' ' -f1 > server.sha256
openssl x509 -in server.pem -noout -fingerprint -sha1 | cut -d= -f2 > server.sha1

rm -f ./*.csr ./*.ext ./*.srl client.crt client.key other-ca.key ca.key

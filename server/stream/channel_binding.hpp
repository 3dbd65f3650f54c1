#pragma once
// What a TLS connection lets SCRAM-*-PLUS bind to (XEP-0440 lists the types in the stream features):
//   tls-exporter (RFC 9266): 32 bytes of keying material, label "EXPORTER-Channel-Binding" — only under TLS 1.3 or
//     with the extended master secret, without which TLS 1.2's exporter is not unique to the connection;
//   tls-server-end-point (RFC 5929 §4): the hash of our certificate (its signature's hash, SHA-256 for MD5/SHA-1).
#include <string>
#include <utility>
#include <vector>

#include <openssl/ssl.h>

namespace hush {

// Type -> binding data (raw bytes), best first; empty when `ssl` is null.
std::vector<std::pair<std::string, std::string>> channel_bindings(SSL* ssl);

}  // namespace hush

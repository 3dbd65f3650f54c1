#pragma once
// Whether a peer's certificate is valid for an XMPP domain (RFC 6120 §13.7.1.2, RFC 6125, XEP-0178), and PKIX
// chain verification against the system CAs plus an optional CA file — the two checks behind SASL EXTERNAL and
// "dialback without dialing back" on server-to-server streams.
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/expected.hpp"

namespace hush {

// The identities a certificate presents, as read (no matching yet).
struct certificate_identities {
    bool has_subject_alt_name = false;
    std::vector<std::string> dns_ids;     // dNSName SANs, ASCII lower-cased
    std::vector<std::string> srv_ids;     // SRVName SANs for _xmpp-server, as the domain after the service label
    std::vector<std::string> xmpp_addrs;  // id-on-xmppAddr SANs (UTF-8 JIDs, as presented)
    std::string common_name;              // the most specific subject CN (empty when none)
};
certificate_identities read_certificate_identities(const X509* cert);

// How a certificate matched a domain; `none` when it does not.
enum class certificate_match { none, dns_id, srv_id, xmpp_addr, common_name };
std::string_view certificate_match_name(certificate_match match);

// Matches `domain` (a U-label or A-label domain name, any case, optional trailing dot) against, in order: DNS-IDs
// (a wildcard only as the whole left-most label, standing for exactly one label), SRV-IDs for _xmpp-server, and
// domain-only XmppAddrs. The subject CN counts only when the certificate has no subjectAltName at all.
certificate_match match_certificate_domain(const X509* cert, std::string_view domain);
inline bool certificate_valid_for_domain(const X509* cert, std::string_view domain) {
    return match_certificate_domain(cert, domain) != certificate_match::none;
}

// RFC 6125 §6.4 matching of one presented DNS name against a reference domain; both must already be ASCII
// (A-labels). Exposed for tests.
bool dns_id_matches(std::string_view presented, std::string_view reference);

// A domain as the ASCII, lower-cased form certificates carry (IDNA ToASCII after nameprep, trailing dot removed);
// empty when it is no valid domain name.
std::string domain_to_ascii(std::string_view domain);

// Trusted CAs for verifying peers' chains. Loading the system store is not free: build one and reuse it (it is
// safe to use from several threads).
class trust_store {
public:
    // The system default CA locations (OpenSSL's default paths) when `system_defaults`, plus the PEM `ca_file`
    // (any number of certificates) when not empty. Fails with a text when the CA file cannot be loaded.
    static hush::expected<trust_store, std::string> load(const std::string& ca_file, bool system_defaults = true);

    // Verifies `leaf` up to a trusted CA, with `chain` (may be null, may include the leaf — as
    // SSL_get_peer_cert_chain returns it on either side) as untrusted intermediates. The error text names the
    // failure and its depth.
    hush::expected<void, std::string> verify(X509* leaf, STACK_OF(X509) * chain) const;

private:
    struct store_deleter {
        void operator()(X509_STORE* store) const { X509_STORE_free(store); }
    };
    std::shared_ptr<X509_STORE> store_;
};

// One-shot: trust_store::load(ca_file) then verify.
hush::expected<void, std::string> verify_chain(STACK_OF(X509) * chain, X509* leaf, const std::string& ca_file);

}  // namespace hush

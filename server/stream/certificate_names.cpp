#include "server/stream/certificate_names.hpp"

#include <idn-free.h>
#include <idna.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <cstring>
#include <optional>

#include "protocol/jid.hpp"

namespace hush {

namespace {

constexpr std::string_view xmpp_server_service = "_xmpp-server.";

char ascii_lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals_ascii(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (ascii_lower(a[i]) != ascii_lower(b[i])) {
            return false;
        }
    }
    return true;
}

std::string_view strip_trailing_dot(std::string_view name) {
    if (!name.empty() && name.back() == '.') {
        name.remove_suffix(1);
    }
    return name;
}

// An ASN.1 string's bytes, refusing embedded NULs (the classic "good.example\0.evil.example" trick).
std::optional<std::string> asn1_text(const ASN1_STRING* s) {
    if (s == nullptr) {
        return std::nullopt;
    }
    const auto* data = reinterpret_cast<const char*>(ASN1_STRING_get0_data(s));
    const auto size = static_cast<std::size_t>(ASN1_STRING_length(s));
    if (data == nullptr || std::memchr(data, '\0', size) != nullptr) {
        return std::nullopt;
    }
    return std::string(data, size);
}

// A DNS name as carried in a certificate: ASCII only, lower-cased, no trailing dot, no empty labels.
std::optional<std::string> presented_dns_name(std::string_view raw) {
    raw = strip_trailing_dot(raw);
    if (raw.empty() || raw.size() > 253) {
        return std::nullopt;
    }
    std::string out;
    out.reserve(raw.size());
    char previous = '.';
    for (char c : raw) {
        if (static_cast<unsigned char>(c) >= 0x80 || c <= ' ' || (c == '.' && previous == '.')) {
            return std::nullopt;
        }
        out += ascii_lower(c);
        previous = c;
    }
    return out;
}

// Label syntax for a reference domain once in ASCII: letter-digit-hyphen (and '_', seen in internal names),
// 1..63 octets per label. No '*', so a reference can never look like a wildcard.
bool valid_ascii_domain(std::string_view name) {
    if (name.empty() || name.size() > 253) {
        return false;
    }
    std::size_t label = 0;
    for (char c : name) {
        if (c == '.') {
            if (label == 0) {
                return false;
            }
            label = 0;
            continue;
        }
        const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
        if (!ok || ++label > 63) {
            return false;
        }
    }
    return label > 0;
}

bool is_ascii(std::string_view s) {
    for (char c : s) {
        if (static_cast<unsigned char>(c) >= 0x80) {
            return false;
        }
    }
    return true;
}

}  // namespace

std::string domain_to_ascii(std::string_view domain) {
    domain = strip_trailing_dot(domain);
    if (domain.empty() || !valid_utf8(domain)) {
        return {};
    }
    // The XMPP view of the name first (RFC 6120 §13.7.1.2 compares after nameprep), then its DNS form.
    auto prepped = nameprep(domain);
    if (!prepped || prepped->empty()) {
        return {};
    }
    std::string ascii;
    if (is_ascii(*prepped)) {
        ascii = std::move(*prepped);
    } else {
        char* out = nullptr;
        // No IDNA_ALLOW_UNASSIGNED: an identifier with unassigned code points is no domain we can vouch for.
        if (idna_to_ascii_8z(prepped->c_str(), &out, 0) != IDNA_SUCCESS || out == nullptr) {
            idn_free(out);
            return {};
        }
        ascii = out;
        idn_free(out);
    }
    for (char& c : ascii) {
        c = ascii_lower(c);
    }
    ascii = std::string(strip_trailing_dot(ascii));
    return valid_ascii_domain(ascii) ? ascii : std::string();
}

bool dns_id_matches(std::string_view presented_raw, std::string_view reference) {
    const auto presented = presented_dns_name(presented_raw);
    reference = strip_trailing_dot(reference);
    if (!presented || reference.empty()) {
        return false;
    }
    const std::string_view p = *presented;
    if (p.find('*') == std::string_view::npos) {
        return iequals_ascii(p, reference);
    }
    // RFC 6125 §6.4.3, narrowed: '*' only as the complete left-most label ("*.example.com", never "f*.example.com"
    // or "xn--*.example.com"), standing for exactly one label, and not directly above a top-level label ("*.com").
    if (p.size() < 3 || p.substr(0, 2) != "*.") {
        return false;
    }
    const std::string_view rest = p.substr(2);
    if (rest.find('*') != std::string_view::npos || rest.find('.') == std::string_view::npos) {
        return false;
    }
    const auto dot = reference.find('.');
    if (dot == std::string_view::npos || dot == 0) {
        return false;
    }
    return iequals_ascii(rest, reference.substr(dot + 1));
}

certificate_identities read_certificate_identities(const X509* cert) {
    certificate_identities ids;
    if (cert == nullptr) {
        return ids;
    }
    // Presence, not decodability: a SAN extension we cannot read still rules out the CN fallback.
    ids.has_subject_alt_name = X509_get_ext_by_NID(cert, NID_subject_alt_name, -1) >= 0;
    auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
    for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names); ++i) {
        const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
        if (name->type == GEN_DNS) {
            if (auto text = asn1_text(name->d.dNSName)) {
                if (auto dns = presented_dns_name(*text)) {
                    ids.dns_ids.push_back(std::move(*dns));
                }
            }
            continue;
        }
        if (name->type != GEN_OTHERNAME || name->d.otherName == nullptr || name->d.otherName->value == nullptr) {
            continue;
        }
        const OTHERNAME* other = name->d.otherName;
        const int nid = OBJ_obj2nid(other->type_id);
        if (nid == NID_XmppAddr && other->value->type == V_ASN1_UTF8STRING) {
            if (auto text = asn1_text(other->value->value.utf8string)) {
                ids.xmpp_addrs.push_back(std::move(*text));
            }
        } else if (nid == NID_SRVName && other->value->type == V_ASN1_IA5STRING) {
            // RFC 4985 SRVName "_Service.Name"; only the XMPP server-to-server service identifies us here.
            auto text = asn1_text(other->value->value.ia5string);
            if (text && text->size() > xmpp_server_service.size() &&
                iequals_ascii(std::string_view(*text).substr(0, xmpp_server_service.size()), xmpp_server_service)) {
                if (auto dns = presented_dns_name(std::string_view(*text).substr(xmpp_server_service.size()))) {
                    ids.srv_ids.push_back(std::move(*dns));
                }
            }
        }
    }
    GENERAL_NAMES_free(names);

    // RFC 6125 §6.4.4: the most specific CN is the last one in the subject.
    const X509_NAME* subject = X509_get_subject_name(cert);
    int last = -1;
    for (int i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1); i >= 0;
         i = X509_NAME_get_index_by_NID(subject, NID_commonName, i)) {
        last = i;
    }
    if (last >= 0) {
        unsigned char* utf8 = nullptr;
        const int size =
            ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, last)));
        if (size > 0 && std::memchr(utf8, '\0', static_cast<std::size_t>(size)) == nullptr) {
            ids.common_name.assign(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(size));
        }
        OPENSSL_free(utf8);
    }
    return ids;
}

std::string_view certificate_match_name(certificate_match match) {
    switch (match) {
    case certificate_match::none: return "none";
    case certificate_match::dns_id: return "DNS-ID";
    case certificate_match::srv_id: return "SRV-ID";
    case certificate_match::xmpp_addr: return "XmppAddr";
    case certificate_match::common_name: return "CN-ID";
    }
    return "none";
}

certificate_match match_certificate_domain(const X509* cert, std::string_view domain) {
    const std::string reference = domain_to_ascii(domain);
    if (cert == nullptr || reference.empty()) {
        return certificate_match::none;
    }
    const certificate_identities ids = read_certificate_identities(cert);
    for (const auto& dns : ids.dns_ids) {
        if (dns_id_matches(dns, reference)) {
            return certificate_match::dns_id;
        }
    }
    for (const auto& srv : ids.srv_ids) {
        if (srv == reference) {  // SRV-IDs name one service domain; no wildcards
            return certificate_match::srv_id;
        }
    }
    for (const auto& addr : ids.xmpp_addrs) {
        // A server's XmppAddr is a bare domain (RFC 6120 §13.7.1.4); user@domain or a resource is someone else.
        auto address = jid::parse(addr);
        if (address && !address->has_node() && address->is_bare() && domain_to_ascii(address->domain()) == reference) {
            return certificate_match::xmpp_addr;
        }
    }
    // The CN is a last resort for old certificates only: deliberately stricter than RFC 6125 §6.4.4 (which also
    // allows it when the SAN holds only other identifier types), so a certificate with any subjectAltName never
    // gets a name from its subject.
    if (!ids.has_subject_alt_name && !ids.common_name.empty()) {
        if (is_ascii(ids.common_name) ? dns_id_matches(ids.common_name, reference)
                                      : domain_to_ascii(ids.common_name) == reference) {
            return certificate_match::common_name;
        }
    }
    return certificate_match::none;
}

namespace {

std::string openssl_error_text(const char* what) {
    std::string text = what;
    if (const unsigned long code = ERR_get_error(); code != 0) {
        char buf[256];
        ERR_error_string_n(code, buf, sizeof buf);
        text += ": ";
        text += buf;
    }
    ERR_clear_error();
    return text;
}

}  // namespace

hush::expected<trust_store, std::string> trust_store::load(const std::string& ca_file, bool system_defaults) {
    std::shared_ptr<X509_STORE> store(X509_STORE_new(), store_deleter{});
    if (!store) {
        return hush::unexpected(openssl_error_text("cannot create a certificate store"));
    }
    if (system_defaults && X509_STORE_set_default_paths(store.get()) != 1) {
        return hush::unexpected(openssl_error_text("cannot use the system CA locations"));
    }
    ERR_clear_error();  // missing default files are not an error
    if (!ca_file.empty() && X509_STORE_load_file(store.get(), ca_file.c_str()) != 1) {
        return hush::unexpected(openssl_error_text(("cannot load CA file " + ca_file).c_str()));
    }
    trust_store out;
    out.store_ = std::move(store);
    return out;
}

hush::expected<void, std::string> trust_store::verify(X509* leaf, STACK_OF(X509) * chain) const {
    if (leaf == nullptr) {
        return hush::unexpected(std::string("no certificate presented"));
    }
    if (!store_) {
        return hush::unexpected(std::string("no trust store loaded"));
    }
    std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> ctx(X509_STORE_CTX_new(), X509_STORE_CTX_free);
    if (!ctx || X509_STORE_CTX_init(ctx.get(), store_.get(), leaf, chain) != 1) {
        return hush::unexpected(openssl_error_text("cannot set up certificate verification"));
    }
    // No purpose (EKU) check: peer servers present their server certificates when they connect to us, and those
    // increasingly lack clientAuth (public CAs are dropping it); the name checks above decide who they are.
    if (X509_verify_cert(ctx.get()) == 1) {
        return {};
    }
    const int error = X509_STORE_CTX_get_error(ctx.get());
    const int depth = X509_STORE_CTX_get_error_depth(ctx.get());
    ERR_clear_error();
    return hush::unexpected(std::string(X509_verify_cert_error_string(error)) + " (depth " + std::to_string(depth) +
                            ")");
}

hush::expected<void, std::string> verify_chain(STACK_OF(X509) * chain, X509* leaf, const std::string& ca_file) {
    auto store = trust_store::load(ca_file);
    if (!store) {
        return hush::unexpected(store.error());
    }
    return store->verify(leaf, chain);
}

}  // namespace hush

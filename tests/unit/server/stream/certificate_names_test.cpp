#include <doctest.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <memory>
#include <string>

#include "server/stream/certificate_names.hpp"
#include "tests/unit/test_support.hpp"

using namespace hush;

namespace {

// ---- Certificate building helpers (OpenSSL APIs only; P-256 keys keep this fast) ----

struct key_free {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct x509_free {
    void operator()(X509* c) const { X509_free(c); }
};
struct stack_free {
    void operator()(STACK_OF(X509) * s) const { sk_X509_free(s); }  // the certificates stay owned elsewhere
};
using key_ptr = std::unique_ptr<EVP_PKEY, key_free>;
using x509_ptr = std::unique_ptr<X509, x509_free>;
using stack_ptr = std::unique_ptr<STACK_OF(X509), stack_free>;

key_ptr make_key() {
    key_ptr key(EVP_EC_gen("P-256"));
    REQUIRE(key != nullptr);
    return key;
}

struct cert_spec {
    std::string cn;           // subject CN; empty: none
    std::string san;          // subjectAltName in OpenSSL config syntax ("DNS:a,otherName:OID;UTF8:b"); empty: none
    bool ca = false;
    long valid_from = -3600;  // seconds from now
    long valid_until = 24 * 3600;
};

void add_ext(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str());
    REQUIRE_MESSAGE(ext != nullptr, value);
    REQUIRE(X509_add_ext(cert, ext, -1) == 1);
    X509_EXTENSION_free(ext);
}

// Issued by `issuer` (signed with `issuer_key`), or self-signed when `issuer` is null.
x509_ptr make_cert(const cert_spec& spec, EVP_PKEY* key, X509* issuer = nullptr, EVP_PKEY* issuer_key = nullptr) {
    static long serial = 1;
    x509_ptr cert(X509_new());
    REQUIRE(cert != nullptr);
    X509_set_version(cert.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial++);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), spec.valid_from);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), spec.valid_until);
    X509_set_pubkey(cert.get(), key);
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>("Hush tests"), -1, -1,
                               0);
    if (!spec.cn.empty()) {
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(spec.cn.c_str()),
                                   -1, -1, 0);
    }
    X509* signer = issuer != nullptr ? issuer : cert.get();
    X509_set_issuer_name(cert.get(), X509_get_subject_name(signer));

    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, signer, cert.get(), nullptr, nullptr, 0);
    add_ext(cert.get(), &ctx, NID_basic_constraints, spec.ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    add_ext(cert.get(), &ctx, NID_key_usage, spec.ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
    add_ext(cert.get(), &ctx, NID_subject_key_identifier, "hash");
    if (issuer != nullptr) {
        add_ext(cert.get(), &ctx, NID_authority_key_identifier, "keyid");
    }
    if (!spec.san.empty()) {
        add_ext(cert.get(), &ctx, NID_subject_alt_name, spec.san);
    }
    REQUIRE(X509_sign(cert.get(), issuer_key != nullptr ? issuer_key : key, EVP_sha256()) > 0);
    return cert;
}

// A leaf with the given names, self-signed (name matching does not care who signed).
x509_ptr leaf(const std::string& san, const std::string& cn = "") {
    auto key = make_key();
    return make_cert(cert_spec{cn, san}, key.get());
}

// SAN entries built by hand, for what the config syntax cannot express: raw bytes (a NUL) and UTF-8 (the
// config parser reads "UTF8:" values as Latin-1, and a FORMAT modifier would need a comma, the SAN separator).
GENERAL_NAME* raw_dns_name(const std::string& raw) {
    GENERAL_NAME* name = GENERAL_NAME_new();
    ASN1_IA5STRING* ia5 = ASN1_IA5STRING_new();
    ASN1_STRING_set(ia5, raw.data(), static_cast<int>(raw.size()));
    GENERAL_NAME_set0_value(name, GEN_DNS, ia5);
    return name;
}

GENERAL_NAME* utf8_xmpp_addr(const std::string& utf8) {
    GENERAL_NAME* name = GENERAL_NAME_new();
    ASN1_UTF8STRING* text = ASN1_UTF8STRING_new();
    ASN1_STRING_set(text, utf8.data(), static_cast<int>(utf8.size()));
    ASN1_TYPE* value = ASN1_TYPE_new();
    ASN1_TYPE_set(value, V_ASN1_UTF8STRING, text);
    REQUIRE(GENERAL_NAME_set0_othername(name, OBJ_nid2obj(NID_XmppAddr), value) == 1);
    return name;
}

// A self-signed leaf whose subjectAltName holds exactly `entries` (taking ownership).
x509_ptr leaf_with_names(std::initializer_list<GENERAL_NAME*> entries) {
    auto key = make_key();
    auto cert = make_cert(cert_spec{}, key.get());
    GENERAL_NAMES* names = sk_GENERAL_NAME_new_null();
    for (GENERAL_NAME* entry : entries) {
        sk_GENERAL_NAME_push(names, entry);
    }
    REQUIRE(X509_add1_ext_i2d(cert.get(), NID_subject_alt_name, names, 0, X509V3_ADD_DEFAULT) == 1);
    GENERAL_NAMES_free(names);
    REQUIRE(X509_sign(cert.get(), key.get(), EVP_sha256()) > 0);
    return cert;
}

void write_pem(const std::filesystem::path& path, std::initializer_list<X509*> certs) {
    FILE* f = std::fopen(path.c_str(), "wb");
    REQUIRE(f != nullptr);
    for (X509* c : certs) {
        PEM_write_X509(f, c);
    }
    std::fclose(f);
}

const std::string xmpp_addr = "otherName:1.3.6.1.5.5.7.8.5;UTF8:";
const std::string srv_name = "otherName:1.3.6.1.5.5.7.8.7;IA5STRING:";

certificate_match match(const x509_ptr& cert, const char* domain) {
    return match_certificate_domain(cert.get(), domain);
}

}  // namespace

TEST_CASE("domain_to_ascii: nameprep, IDNA and syntax") {
    CHECK(domain_to_ascii("Example.COM") == "example.com");
    CHECK(domain_to_ascii("example.com.") == "example.com");
    CHECK(domain_to_ascii("Bücher.Example") == "xn--bcher-kva.example");
    CHECK(domain_to_ascii("xn--bcher-kva.example") == "xn--bcher-kva.example");
    CHECK(domain_to_ascii("") == "");
    CHECK(domain_to_ascii(".") == "");
    CHECK(domain_to_ascii("a..example") == "");
    CHECK(domain_to_ascii("*.example.com") == "");
    CHECK(domain_to_ascii("exa mple.com") == "");
    CHECK(domain_to_ascii(std::string(64, 'a') + ".example") == "");
    CHECK(domain_to_ascii("\xff.example") == "");
}

TEST_CASE("dns_id_matches: RFC 6125 §6.4 rules") {
    struct row {
        const char* presented;
        const char* reference;
        bool matches;
    };
    for (const auto& r : {
             row{"example.com", "example.com", true},
             row{"EXAMPLE.com", "example.com", true},
             row{"example.com.", "example.com", true},
             row{"example.com", "www.example.com", false},
             row{"www.example.com", "example.com", false},
             row{"*.example.com", "chat.example.com", true},
             row{"*.EXAMPLE.COM", "chat.example.com", true},
             row{"*.example.com", "xn--bcher-kva.example.com", true},  // the whole label, A-label or not
             row{"*.example.com", "example.com", false},               // exactly one label...
             row{"*.example.com", "a.b.example.com", false},           // ...not two
             row{"*.example.com", "chat.example.org", false},
             row{"*.example.com", ".example.com", false},
             row{"f*.example.com", "foo.example.com", false},           // partial-label wildcards never
             row{"*oo.example.com", "foo.example.com", false},
             row{"xn--*.example.com", "xn--bcher-kva.example.com", false},
             row{"*.*.example.com", "a.b.example.com", false},
             row{"a.*.example.com", "a.b.example.com", false},
             row{"*.com", "example.com", false},  // not directly above a top-level label
             row{"*", "example", false},
             row{"", "example.com", false},
             row{"example..com", "example..com", false},
             row{"exämple.com", "exämple.com", false},  // presented DNS names are A-labels only
         }) {
        CAPTURE(r.presented);
        CAPTURE(r.reference);
        CHECK(dns_id_matches(r.presented, r.reference) == r.matches);
    }
}

TEST_CASE("DNS-ID SANs") {
    auto cert = leaf("DNS:xmpp.example.com,DNS:example.com");
    CHECK(match(cert, "example.com") == certificate_match::dns_id);
    CHECK(match(cert, "xmpp.example.com") == certificate_match::dns_id);
    CHECK(match(cert, "XMPP.Example.COM") == certificate_match::dns_id);
    CHECK(match(cert, "xmpp.example.com.") == certificate_match::dns_id);
    CHECK(match(cert, "other.example.com") == certificate_match::none);
    CHECK(match(cert, "example.org") == certificate_match::none);
    CHECK(match(cert, "xmpp.example.com.evil.example") == certificate_match::none);
    CHECK(match(cert, "") == certificate_match::none);
    CHECK(certificate_valid_for_domain(cert.get(), "example.com"));
    CHECK_FALSE(certificate_valid_for_domain(cert.get(), "example.net"));
    CHECK_FALSE(certificate_valid_for_domain(nullptr, "example.com"));
}

TEST_CASE("wildcard DNS-ID SANs") {
    auto cert = leaf("DNS:*.example.com");
    CHECK(match(cert, "chat.example.com") == certificate_match::dns_id);
    CHECK(match(cert, "Chat.Example.Com") == certificate_match::dns_id);
    CHECK(match(cert, "bücher.example.com") == certificate_match::dns_id);
    CHECK(match(cert, "xn--bcher-kva.example.com") == certificate_match::dns_id);
    CHECK(match(cert, "example.com") == certificate_match::none);
    CHECK(match(cert, "a.b.example.com") == certificate_match::none);
    CHECK(match(cert, "chat.example.org") == certificate_match::none);

    for (const char* bad : {"DNS:f*.example.com", "DNS:*oo.example.com", "DNS:xn--*.example.com",
                            "DNS:*.*.example.com", "DNS:a.*.example.com", "DNS:*.com"}) {
        CAPTURE(bad);
        auto c = leaf(bad);
        for (const char* domain : {"foo.example.com", "xn--bcher-kva.example.com", "a.b.example.com", "example.com"}) {
            CAPTURE(domain);
            CHECK(match(c, domain) == certificate_match::none);
        }
    }
}

TEST_CASE("IDN DNS-ID SANs compare in A-label form") {
    auto cert = leaf("DNS:xn--bcher-kva.example");
    CHECK(match(cert, "bücher.example") == certificate_match::dns_id);
    CHECK(match(cert, "BÜCHER.example") == certificate_match::dns_id);
    CHECK(match(cert, "xn--bcher-kva.example") == certificate_match::dns_id);
    CHECK(match(cert, "bucher.example") == certificate_match::none);
}

TEST_CASE("a dNSName with an embedded NUL is ignored") {
    auto cert = leaf_with_names({raw_dns_name(std::string("good.example\0.evil.example", 26))});
    CHECK(read_certificate_identities(cert.get()).dns_ids.empty());
    CHECK(match(cert, "good.example") == certificate_match::none);
    CHECK(match(cert, "evil.example") == certificate_match::none);
    auto plain = leaf_with_names({raw_dns_name("good.example")});
    CHECK(match(plain, "good.example") == certificate_match::dns_id);
}

TEST_CASE("XmppAddr SANs (id-on-xmppAddr otherName)") {
    auto cert = leaf(xmpp_addr + "example.net");
    CHECK(match(cert, "example.net") == certificate_match::xmpp_addr);
    CHECK(match(cert, "EXAMPLE.net") == certificate_match::xmpp_addr);
    CHECK(match(cert, "chat.example.net") == certificate_match::none);
    CHECK(match(cert, "example.org") == certificate_match::none);

    // Only a bare domain speaks for a server.
    CHECK(match(leaf(xmpp_addr + "admin@example.net"), "example.net") == certificate_match::none);
    CHECK(match(leaf(xmpp_addr + "example.net/resource"), "example.net") == certificate_match::none);
    // No wildcards in XmppAddr.
    CHECK(match(leaf(xmpp_addr + "*.example.net"), "chat.example.net") == certificate_match::none);
    // Internationalized: compared after nameprep, whichever form either side uses.
    CHECK(match(leaf_with_names({utf8_xmpp_addr("Bücher.example")}), "bücher.example") == certificate_match::xmpp_addr);
    CHECK(match(leaf_with_names({utf8_xmpp_addr("bücher.example")}), "xn--bcher-kva.example") ==
          certificate_match::xmpp_addr);
    CHECK(match(leaf_with_names({utf8_xmpp_addr("xn--bcher-kva.example")}), "bücher.example") ==
          certificate_match::xmpp_addr);
    CHECK(read_certificate_identities(leaf_with_names({utf8_xmpp_addr("bücher.example")}).get()).xmpp_addrs ==
          std::vector<std::string>{"bücher.example"});
    // Invalid UTF-8 or an embedded NUL is no address.
    CHECK(match(leaf_with_names({utf8_xmpp_addr("b\xfc" "cher.example")}), "bücher.example") == certificate_match::none);
    CHECK(match(leaf_with_names({utf8_xmpp_addr(std::string("example.net\0.evil", 17))}), "example.net") ==
          certificate_match::none);
    // The OID with another string type is not an XmppAddr (RFC 6120 §13.7.1.4: UTF8String).
    CHECK(match(leaf("otherName:1.3.6.1.5.5.7.8.5;IA5STRING:example.net"), "example.net") == certificate_match::none);
    // Some other otherName with the same text is nothing to us.
    CHECK(match(leaf("otherName:1.3.6.1.4.1.99999.1;UTF8:example.net"), "example.net") == certificate_match::none);
}

TEST_CASE("SRV-ID SANs for _xmpp-server") {
    auto cert = leaf(srv_name + "_xmpp-server.example.org");
    CHECK(match(cert, "example.org") == certificate_match::srv_id);
    CHECK(match(cert, "Example.ORG") == certificate_match::srv_id);
    CHECK(match(cert, "chat.example.org") == certificate_match::none);
    CHECK(match(leaf(srv_name + "_XMPP-Server.Example.org"), "example.org") == certificate_match::srv_id);
    CHECK(match(leaf(srv_name + "_xmpp-client.example.org"), "example.org") == certificate_match::none);
    CHECK(match(leaf(srv_name + "_xmpp-server.*.example.org"), "chat.example.org") == certificate_match::none);
    CHECK(match(leaf(srv_name + "_xmpp-server."), "example.org") == certificate_match::none);
}

TEST_CASE("the subject CN counts only without any subjectAltName") {
    auto cn_only = leaf("", "legacy.example");
    CHECK(match(cn_only, "legacy.example") == certificate_match::common_name);
    CHECK(match(cn_only, "LEGACY.example") == certificate_match::common_name);
    CHECK(match(cn_only, "other.example") == certificate_match::none);

    auto wildcard_cn = leaf("", "*.legacy.example");
    CHECK(match(wildcard_cn, "chat.legacy.example") == certificate_match::common_name);
    CHECK(match(wildcard_cn, "legacy.example") == certificate_match::none);

    // Any SAN at all — even one with no identity of ours — silences the CN.
    CHECK(match(leaf("DNS:other.example", "cn.example"), "cn.example") == certificate_match::none);
    CHECK(match(leaf("email:admin@cn.example", "cn.example"), "cn.example") == certificate_match::none);
    CHECK(match(leaf("IP:192.0.2.1", "cn.example"), "cn.example") == certificate_match::none);
}

TEST_CASE("the most specific CN is the one that counts") {
    auto key = make_key();
    x509_ptr cert(X509_new());
    X509_set_version(cert.get(), 2);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
    X509_set_pubkey(cert.get(), key.get());
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>("first.example"), -1,
                               -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>("last.example"), -1,
                               -1, 0);
    X509_set_issuer_name(cert.get(), name);
    REQUIRE(X509_sign(cert.get(), key.get(), EVP_sha256()) > 0);
    CHECK(read_certificate_identities(cert.get()).common_name == "last.example");
    CHECK(match(cert, "last.example") == certificate_match::common_name);
    CHECK(match(cert, "first.example") == certificate_match::none);
}

TEST_CASE("identities are read and reported; DNS-ID wins when several match") {
    auto cert = leaf("DNS:Example.COM,DNS:*.example.com," + xmpp_addr + "example.com," + srv_name +
                         "_xmpp-server.example.com," + srv_name + "_imap.example.com,email:a@example.com",
                     "cn.example");
    const auto ids = read_certificate_identities(cert.get());
    CHECK(ids.has_subject_alt_name);
    CHECK(ids.dns_ids == std::vector<std::string>{"example.com", "*.example.com"});
    CHECK(ids.xmpp_addrs == std::vector<std::string>{"example.com"});
    CHECK(ids.srv_ids == std::vector<std::string>{"example.com"});
    CHECK(ids.common_name == "cn.example");
    CHECK(match(cert, "example.com") == certificate_match::dns_id);
    CHECK(certificate_match_name(certificate_match::xmpp_addr) == "XmppAddr");

    const auto none = read_certificate_identities(leaf("", "").get());
    CHECK_FALSE(none.has_subject_alt_name);
    CHECK(none.common_name.empty());
    CHECK(read_certificate_identities(nullptr).dns_ids.empty());
}

TEST_CASE("chain verification against a test CA") {
    test::temp_dir dir;
    auto ca_key = make_key();
    auto ca = make_cert(cert_spec{"Hush Test Root", "", true}, ca_key.get());
    const auto ca_file = dir.path() / "ca.pem";
    write_pem(ca_file, {ca.get()});

    auto leaf_key = make_key();
    auto good = make_cert(cert_spec{"", "DNS:example.com"}, leaf_key.get(), ca.get(), ca_key.get());

    SUBCASE("trusted through the CA file") {
        auto store = trust_store::load(ca_file.string());
        REQUIRE(store);
        CHECK(store->verify(good.get(), nullptr));
        // SSL_get_peer_cert_chain on a client includes the leaf; that must not matter.
        stack_ptr chain(sk_X509_new_null());
        sk_X509_push(chain.get(), good.get());
        CHECK(store->verify(good.get(), chain.get()));
        CHECK(verify_chain(chain.get(), good.get(), ca_file.string()));
        CHECK(verify_chain(nullptr, good.get(), ca_file.string()));
    }
    SUBCASE("against nothing, or only the system CAs, it fails") {
        auto empty = trust_store::load("", false);
        REQUIRE(empty);
        auto r = empty->verify(good.get(), nullptr);
        REQUIRE_FALSE(r);
        CHECK(r.error() == "unable to get local issuer certificate (depth 0)");

        auto system = verify_chain(nullptr, good.get(), "");
        REQUIRE_FALSE(system);
        CHECK_FALSE(system.error().empty());
    }
    SUBCASE("an intermediate is needed in the chain") {
        auto inter_key = make_key();
        auto inter = make_cert(cert_spec{"Hush Test Intermediate", "", true}, inter_key.get(), ca.get(), ca_key.get());
        auto deep = make_cert(cert_spec{"", "DNS:deep.example"}, leaf_key.get(), inter.get(), inter_key.get());
        stack_ptr chain(sk_X509_new_null());
        sk_X509_push(chain.get(), inter.get());
        CHECK(verify_chain(chain.get(), deep.get(), ca_file.string()));
        auto missing = verify_chain(nullptr, deep.get(), ca_file.string());
        REQUIRE_FALSE(missing);
        CHECK(missing.error() == "unable to get local issuer certificate (depth 0)");
    }
    SUBCASE("expired, foreign and self-signed leaves fail") {
        auto store = trust_store::load(ca_file.string());
        REQUIRE(store);

        auto expired = make_cert(cert_spec{"", "DNS:example.com", false, -7200, -3600}, leaf_key.get(), ca.get(),
                                 ca_key.get());
        auto r = store->verify(expired.get(), nullptr);
        REQUIRE_FALSE(r);
        CHECK(r.error() == "certificate has expired (depth 0)");

        auto other_key = make_key();
        auto other_ca = make_cert(cert_spec{"Hush Test Root", "", true}, other_key.get());  // same name, other key
        auto foreign = make_cert(cert_spec{"", "DNS:example.com"}, leaf_key.get(), other_ca.get(), other_key.get());
        CHECK_FALSE(store->verify(foreign.get(), nullptr));

        auto self = leaf("DNS:example.com");
        auto s = store->verify(self.get(), nullptr);
        REQUIRE_FALSE(s);
        CHECK(s.error() == "self-signed certificate (depth 0)");

        CHECK(store->verify(nullptr, nullptr).error() == "no certificate presented");
    }
    SUBCASE("a CA file that cannot be loaded") {
        auto missing = trust_store::load((dir.path() / "nope.pem").string());
        REQUIRE_FALSE(missing);
        CHECK(missing.error().find("nope.pem") != std::string::npos);
        auto r = verify_chain(nullptr, good.get(), (dir.path() / "nope.pem").string());
        REQUIRE_FALSE(r);
        CHECK(r.error().find("cannot load CA file") != std::string::npos);
    }
}

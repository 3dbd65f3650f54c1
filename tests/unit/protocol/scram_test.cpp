#include <doctest.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <string>
#include <string_view>

using namespace std::string_view_literals;

#include "protocol/scram.hpp"

using namespace hush::sasl;

namespace {

std::string b64d(std::string_view text) {
    auto raw = base64_decode(text);
    REQUIRE_MESSAGE(raw.has_value(), "bad base64 in test: ", std::string(text));
    return *raw;
}

// An independent SCRAM client computation (RFC 5802 §3), straight from OpenSSL.
struct test_client {
    scram_hash hash;
    std::string password;

    const EVP_MD* md() const { return hash == scram_hash::sha1 ? EVP_sha1() : EVP_sha256(); }

    std::string hmac(std::string_view key, std::string_view data) const {
        unsigned char out[EVP_MAX_MD_SIZE];
        unsigned int len = 0;
        HMAC(md(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
             data.size(), out, &len);
        return std::string(reinterpret_cast<char*>(out), len);
    }

    std::string salted(std::string_view salt, int iterations) const {
        std::string out(static_cast<std::size_t>(EVP_MD_get_size(md())), '\0');
        PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                          reinterpret_cast<const unsigned char*>(salt.data()), static_cast<int>(salt.size()),
                          iterations, md(), static_cast<int>(out.size()),
                          reinterpret_cast<unsigned char*>(out.data()));
        return out;
    }

    // Proof for the given auth message, salt and iteration count.
    std::string proof(std::string_view salt, int iterations, std::string_view auth_message) const {
        const std::string client_key = hmac(salted(salt, iterations), "Client Key");
        unsigned char stored[EVP_MAX_MD_SIZE];
        unsigned int len = 0;
        EVP_Digest(client_key.data(), client_key.size(), stored, &len, md(), nullptr);
        const std::string signature =
            hmac(std::string_view(reinterpret_cast<char*>(stored), len), auth_message);
        std::string out = client_key;
        for (std::size_t i = 0; i < out.size(); ++i) {
            out[i] = static_cast<char>(out[i] ^ signature[i]);
        }
        return out;
    }
};

constexpr std::string_view client_nonce = "fyko+d2lbbFgONRv9qkxdawL";
constexpr std::string_view server_nonce = "3rfcNHYJY1ZVvWVs7j";
constexpr std::string_view combined_nonce = "fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j";

// Runs client-first and server-first with the given gs2 header, returning the server-first message.
struct exchange {
    scram_server server;
    scram_credentials creds = derive_credentials(scram_hash::sha256, "pencil", "0123456789abcdef", 4096);
    std::string gs2 = "n,,";
    std::string bare = "n=user,r=" + std::string(client_nonce);
    std::string server_first;

    explicit exchange(std::string gs2_header = "n,,", channel_binding binding = {})
        : server(scram_hash::sha256, std::string(server_nonce), std::move(binding)), gs2(std::move(gs2_header)) {
        auto user = server.receive_client_first(gs2 + bare);
        REQUIRE(user);
        CHECK(*user == "user");
        server_first = server.server_first(creds);
        REQUIRE_FALSE(server_first.empty());
    }

    // A correct client-final for `without_proof`, with the proof of password `pw`.
    std::string final_for(std::string_view without_proof, std::string pw = "pencil") const {
        const test_client client{scram_hash::sha256, std::move(pw)};
        const std::string auth = bare + "," + server_first + "," + std::string(without_proof);
        return std::string(without_proof) + ",p=" + base64_encode(client.proof(creds.salt, 4096, auth));
    }

    std::string good_without_proof() const {
        return "c=" + base64_encode(gs2) + ",r=" + std::string(combined_nonce);
    }
};

void check_malformed(const hush::expected<std::string, sasl_failure>& r) {
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().condition == "malformed-request");
}

}  // namespace

TEST_CASE("scram: RFC 5802 section 5 SCRAM-SHA-1 example, verbatim") {
    scram_server server(scram_hash::sha1, "3rfcNHYJY1ZVvWVs7j");
    auto user = server.receive_client_first("n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL");
    REQUIRE(user);
    CHECK(*user == "user");
    CHECK(server.authzid().empty());

    const auto creds = derive_credentials(scram_hash::sha1, "pencil", b64d("QSXCR+Q6sek8bf92"), 4096);
    CHECK(server.server_first(creds) == "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096");

    auto final = server.receive_client_final(
        "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=");
    REQUIRE(final);
    CHECK(*final == "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=");
}

TEST_CASE("scram: RFC 7677 section 3 SCRAM-SHA-256 example, verbatim") {
    scram_server server(scram_hash::sha256, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
    auto user = server.receive_client_first("n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
    REQUIRE(user);
    CHECK(*user == "user");

    const auto creds = derive_credentials(scram_hash::sha256, "pencil", b64d("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096);
    CHECK(server.server_first(creds) ==
          "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");

    auto final = server.receive_client_final(
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
    REQUIRE(final);
    CHECK(*final == "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
}

TEST_CASE("scram: wrong proof is not-authorized") {
    SUBCASE("RFC 5802 exchange with one proof byte flipped") {
        scram_server server(scram_hash::sha1, "3rfcNHYJY1ZVvWVs7j");
        REQUIRE(server.receive_client_first("n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"));
        const auto creds = derive_credentials(scram_hash::sha1, "pencil", b64d("QSXCR+Q6sek8bf92"), 4096);
        (void)server.server_first(creds);
        std::string proof = b64d("v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=");
        proof[0] = static_cast<char>(proof[0] ^ 1);
        auto final = server.receive_client_final("c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=" +
                                                 base64_encode(proof));
        REQUIRE_FALSE(final);
        CHECK(final.error().condition == "not-authorized");
    }
    SUBCASE("wrong password") {
        exchange ex;
        auto final = ex.server.receive_client_final(ex.final_for(ex.good_without_proof(), "pencils"));
        REQUIRE_FALSE(final);
        CHECK(final.error().condition == "not-authorized");
    }
    SUBCASE("SHA-1 proof against SHA-256 credentials has the wrong length") {
        exchange ex;
        check_malformed(ex.server.receive_client_final(ex.good_without_proof() + ",p=" +
                                                       base64_encode(std::string(20, 'x'))));
    }
}

TEST_CASE("scram: a correct exchange with the test client, and one attempt only") {
    exchange ex;
    const std::string msg = ex.final_for(ex.good_without_proof());
    auto final = ex.server.receive_client_final(msg);
    REQUIRE(final);
    CHECK(final->starts_with("v="));
    // Replaying the final message on the same exchange fails.
    check_malformed(ex.server.receive_client_final(msg));
    check_malformed(ex.server.receive_client_first("n,,n=user,r=abc"));
}

TEST_CASE("scram: gs2 header variants") {
    SUBCASE("y,, is accepted since no -PLUS is offered") {
        exchange ex("y,,");
        CHECK(ex.server.receive_client_final(ex.final_for(ex.good_without_proof())));
    }
    SUBCASE("authzid is decoded and must be echoed in c=") {
        exchange ex("n,a=admin=2Cx=3Dy@example.com,");
        CHECK(ex.server.authzid() == "admin,x=y@example.com");
        CHECK(ex.server.receive_client_final(ex.final_for(ex.good_without_proof())));
    }
    SUBCASE("c= must be the gs2 header, not just biws") {
        exchange ex("n,a=admin@example.com,");
        check_malformed(
            ex.server.receive_client_final(ex.final_for("c=biws,r=" + std::string(combined_nonce))));
    }
    SUBCASE("c= for y,, when the client sent n,,") {
        exchange ex;
        check_malformed(ex.server.receive_client_final(
            ex.final_for("c=" + base64_encode("y,,") + ",r=" + std::string(combined_nonce))));
    }
    SUBCASE("channel binding p= is refused") {
        scram_server server(scram_hash::sha256);
        auto r = server.receive_client_first("p=tls-exporter,,n=user,r=abc");
        check_malformed(r);
        check_malformed(scram_server(scram_hash::sha1).receive_client_first("p=tls-unique,,n=user,r=abc"));
    }
}

TEST_CASE("scram -PLUS: the client binds to this connection's data; another's, or a downgrade, fails") {
    const channel_binding offered{{{"tls-exporter", std::string(32, '\x11')}, {"tls-server-end-point", "cert-hash"}},
                                  false};
    channel_binding plus = offered;
    plus.plus = true;
    SUBCASE("tls-exporter: c= carries the gs2 header and the exporter's 32 bytes") {
        exchange ex("p=tls-exporter,,", plus);
        const std::string c = base64_encode("p=tls-exporter,," + std::string(32, '\x11'));
        CHECK(ex.server.receive_client_final(ex.final_for("c=" + c + ",r=" + std::string(combined_nonce))));
    }
    SUBCASE("tls-server-end-point, with an authzid") {
        exchange ex("p=tls-server-end-point,a=user@example.com,", plus);
        CHECK(ex.server.authzid() == "user@example.com");
        const std::string c = base64_encode("p=tls-server-end-point,a=user@example.com,cert-hash");
        CHECK(ex.server.receive_client_final(ex.final_for("c=" + c + ",r=" + std::string(combined_nonce))));
    }
    SUBCASE("data of another connection (a relay in the middle) is not-authorized") {
        exchange ex("p=tls-exporter,,", plus);
        const std::string c = base64_encode("p=tls-exporter,," + std::string(32, '\x22'));
        auto r = ex.server.receive_client_final(ex.final_for("c=" + c + ",r=" + std::string(combined_nonce)));
        REQUIRE_FALSE(r);
        CHECK(r.error().condition == "not-authorized");
    }
    SUBCASE("a type the connection does not have, or no p= at all, fails at the first message") {
        scram_server unknown(scram_hash::sha256, {}, plus);
        auto r = unknown.receive_client_first("p=tls-unique,,n=user,r=abc");
        REQUIRE_FALSE(r);
        CHECK(r.error().condition == "not-authorized");
        check_malformed(scram_server(scram_hash::sha256, {}, plus).receive_client_first("n,,n=user,r=abc"));
    }
    SUBCASE("y,, where binding was offered: accepted by default (tls-unique-only clients), refused when strict") {
        CHECK(scram_server(scram_hash::sha256, {}, offered).receive_client_first("y,,n=user,r=abc"));
        channel_binding strict = offered;
        strict.refuse_downgrade = true;
        scram_server downgraded(scram_hash::sha256, {}, strict);
        auto r = downgraded.receive_client_first("y,,n=user,r=abc");
        REQUIRE_FALSE(r);
        CHECK(r.error().condition == "not-authorized");
        CHECK(scram_server(scram_hash::sha256, {}, offered).receive_client_first("n,,n=user,r=abc"));
    }
}

TEST_CASE("scram: saslname escapes in the username") {
    auto first = [](std::string_view msg) { return scram_server(scram_hash::sha256).receive_client_first(msg); };

    auto escaped = first("n,,n=us=2Cer=3Dx,r=abc");
    REQUIRE(escaped);
    CHECK(*escaped == "us,er=x");
    // Username is SASLprepped: soft hyphen removed, Roman numeral nine -> "IX".
    auto prepped = first("n,,n=I\xC2\xAD\xE2\x85\xA8,r=abc");
    REQUIRE(prepped);
    CHECK(*prepped == "IIX");

    check_malformed(first("n,,n=us=2cer,r=abc"));  // lower-case hex is not an escape
    check_malformed(first("n,,n=us=41er,r=abc"));
    check_malformed(first("n,,n=user=,r=abc"));
    check_malformed(first("n,,n=user=2,r=abc"));
    check_malformed(first("n,,n==,r=abc"));
    check_malformed(first("n,a=ad=min,n=user,r=abc"));  // same rules for authzid
    check_malformed(first("n,a=,n=user,r=abc"));        // empty authzid
    check_malformed(first("n,,n=,r=abc"));              // empty username
    check_malformed(first("n,,n=\xC2\xAD,r=abc"));      // prepares to nothing
    check_malformed(first("n,,n=a\x07,r=abc"));         // prohibited by SASLprep
}

TEST_CASE("scram: malformed client-first messages") {
    auto first = [](std::string_view msg) { return scram_server(scram_hash::sha1).receive_client_first(msg); };

    CHECK(first("n,,n=user,r=abc"));
    CHECK(first("n,,n=user,r=abc,x=ext"));  // unknown optional extension is fine

    check_malformed(first(""));
    check_malformed(first("n"));
    check_malformed(first("n,"));
    check_malformed(first("n,,"));
    check_malformed(first("n,n=user,r=abc"));      // gs2 header missing its second comma
    check_malformed(first("x,,n=user,r=abc"));     // unknown cbind flag
    check_malformed(first("nn,,n=user,r=abc"));
    check_malformed(first("n,b=x,n=user,r=abc"));  // authzid must be a=
    check_malformed(first("n,,r=abc"));            // missing username
    check_malformed(first("n,,n=user"));           // missing nonce
    check_malformed(first("n,,r=abc,n=user"));     // wrong order
    check_malformed(first("n,,n=user,r="));        // empty nonce
    check_malformed(first("n,,n=user,r=a b"));     // nonce must be printable
    check_malformed(first("n,,n=user,r=abc,"));    // trailing comma
    check_malformed(first("n,,n=user,r=abc,x"));   // extension without value
    check_malformed(first("n,,n=user,r=abc,x="));
    check_malformed(first("n,,n=user,r=abc,1=x"));
    check_malformed(first("n,,m=ext,n=user,r=abc"));  // mandatory extension: must fail
    check_malformed(first("n,,n=us\xFF" "er,r=abc"));  // invalid UTF-8
    check_malformed(first("n,,n=us\0er,r=abc"sv));

    // Out of order: no server-first and no final before client-first.
    scram_server fresh(scram_hash::sha256);
    CHECK(fresh.server_first(scram_credentials{}).empty());
    check_malformed(fresh.receive_client_final("c=biws,r=abc,p=AAAA"));
}

TEST_CASE("scram: malformed client-final messages") {
    exchange ex;
    const std::string good = ex.good_without_proof();
    const std::string nonce(combined_nonce);
    const std::string proof = base64_encode(std::string(32, 'x'));

    struct bad_case {
        const char* name;
        std::string message;
    };
    const bad_case cases[] = {
        {"empty", ""},
        {"missing proof", good},
        {"missing c=", "r=" + nonce + ",p=" + proof},
        {"missing r=", "c=biws,p=" + proof},
        {"wrong order", "r=" + nonce + ",c=biws,p=" + proof},
        {"proof not last", "c=biws,r=" + nonce + ",p=" + proof + ",x=y"},
        {"bad base64 proof", "c=biws,r=" + nonce + ",p=!!!!"},
        {"unpadded proof", "c=biws,r=" + nonce + ",p=" + proof.substr(0, proof.size() - 1)},
        {"empty proof", "c=biws,r=" + nonce + ",p="},
        {"bad base64 c=", "c=biw*,r=" + nonce + ",p=" + proof},
        {"c= of n,a=x,", "c=" + base64_encode("n,a=x,") + ",r=" + nonce + ",p=" + proof},
        {"c= of n,,+data", "c=" + base64_encode("n,,abc") + ",r=" + nonce + ",p=" + proof},
        {"only the client nonce", "c=biws,r=" + std::string(client_nonce) + ",p=" + proof},
        {"other server nonce", "c=biws,r=" + std::string(client_nonce) + "XXX,p=" + proof},
        {"nonce with extra", "c=biws,r=" + nonce + "x,p=" + proof},
        {"bad extension", "c=biws,r=" + nonce + ",junk,p=" + proof},
        {"invalid UTF-8", "c=biws,r=" + nonce + ",x=\xFF,p=" + proof},
    };
    for (const auto& c : cases) {
        CAPTURE(c.name);
        exchange fresh;
        check_malformed(fresh.server.receive_client_final(c.message));
    }

    // Syntax checks come before the proof: a right proof on a wrong nonce is still malformed.
    exchange other;
    check_malformed(other.server.receive_client_final(other.final_for("c=biws,r=" + std::string(client_nonce))));

    // An extension between nonce and proof is allowed and covered by the proof.
    exchange ext;
    CHECK(ext.server.receive_client_final(ext.final_for(ext.good_without_proof() + ",x=ext")));
}

TEST_CASE("scram: credentials") {
    CHECK(mechanism_name(scram_hash::sha1) == "SCRAM-SHA-1");
    CHECK(mechanism_name(scram_hash::sha256) == "SCRAM-SHA-256");

    const auto sha1 = derive_credentials(scram_hash::sha1, "pencil", b64d("QSXCR+Q6sek8bf92"), 4096);
    CHECK(sha1.iterations == 4096);
    CHECK(sha1.stored_key.size() == 20);
    CHECK(sha1.server_key.size() == 20);

    const auto made = make_credentials(scram_hash::sha256, "pencil", 4096);
    CHECK(made.salt.size() == 16);
    CHECK(made.stored_key.size() == 32);
    CHECK(made.server_key.size() == 32);
    CHECK(made == derive_credentials(scram_hash::sha256, "pencil", made.salt, 4096));
    CHECK(make_credentials(scram_hash::sha256, "pencil", 4096).salt != made.salt);  // fresh salt each time

    // Zero iterations cannot be derived: empty keys that never verify.
    const auto zero = derive_credentials(scram_hash::sha1, "pencil", "salt", 0);
    CHECK(zero.stored_key.empty());
    CHECK_FALSE(verify_password(scram_hash::sha1, "pencil", zero));
}

TEST_CASE("scram: PLAIN parsing") {
    auto plain = parse_plain("\0user\0pencil"sv);
    REQUIRE(plain);
    CHECK(plain->authzid.empty());
    CHECK(plain->authcid == "user");
    CHECK(plain->password == "pencil");

    auto with_authz = parse_plain("admin@example.com\0user\0pencil"sv);
    REQUIRE(with_authz);
    CHECK(with_authz->authzid == "admin@example.com");
    CHECK(with_authz->authcid == "user");

    auto prepped = parse_plain("\0I\xC2\xADX\0pen\xC2\xA0" "cil"sv);
    REQUIRE(prepped);
    CHECK(prepped->authcid == "IX");
    CHECK(prepped->password == "pen cil");  // non-ASCII space maps to space

    auto malformed_plain = [](std::string_view msg) {
        auto r = parse_plain(msg);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().condition == "malformed-request");
    };
    malformed_plain("");
    malformed_plain("userpencil");
    malformed_plain("\0userpencil"sv);            // one NUL only
    malformed_plain("\0\0pencil"sv);               // empty authcid
    malformed_plain("\0user\0"sv);                 // empty password
    malformed_plain("\0user\0pen\0cil"sv);        // NUL in password
    malformed_plain("\0us\xFF" "er\0pencil"sv);  // invalid UTF-8
    malformed_plain("\0user\0\x07"sv);             // prohibited by SASLprep
}

TEST_CASE("scram: PLAIN verification against SCRAM credentials") {
    for (auto hash : {scram_hash::sha1, scram_hash::sha256}) {
        CAPTURE(mechanism_name(hash));
        const auto creds = make_credentials(hash, "pencil", 4096);
        CHECK(verify_password(hash, "pencil", creds));
        CHECK(verify_password(hash, "pen\xC2\xAD" "cil", creds));  // same after SASLprep
        CHECK_FALSE(verify_password(hash, "Pencil", creds));
        CHECK_FALSE(verify_password(hash, "pencil ", creds));
        CHECK_FALSE(verify_password(hash, "", creds));
        CHECK_FALSE(verify_password(hash, "\xFF", creds));
    }
    // Credentials of the other hash never verify.
    const auto sha1 = make_credentials(scram_hash::sha1, "pencil", 4096);
    CHECK_FALSE(verify_password(scram_hash::sha256, "pencil", sha1));

    // End to end: PLAIN message -> parse -> verify.
    const auto creds = make_credentials(scram_hash::sha256, "\xE2\x85\xA8", 4096);  // prepped to "IX"
    auto msg = parse_plain("\0user\0IX"sv);
    REQUIRE(msg);
    CHECK(verify_password(scram_hash::sha256, msg->password, creds));
}

TEST_CASE("scram: decoy credentials are deterministic and never verify") {
    const std::string secret = "server-secret-0123456789";
    const auto a = decoy_credentials(scram_hash::sha256, "ghost", secret, 4096);
    CHECK(a == decoy_credentials(scram_hash::sha256, "ghost", secret, 4096));
    CHECK(a.salt.size() == 16);
    CHECK(a.iterations == 4096);
    CHECK(a.stored_key.size() == 32);
    CHECK(a.server_key.size() == 32);
    CHECK(a.stored_key != a.server_key);

    CHECK(a.salt != decoy_credentials(scram_hash::sha256, "ghost2", secret, 4096).salt);
    CHECK(a.salt != decoy_credentials(scram_hash::sha256, "ghost", "other-secret", 4096).salt);
    // Real accounts have an independent salt per mechanism; so do decoys.
    const auto b = decoy_credentials(scram_hash::sha1, "ghost", secret, 4096);
    CHECK(b.salt.size() == 16);
    CHECK(b.stored_key.size() == 20);
    CHECK(b.salt != a.salt);

    for (const char* pw : {"", "pencil", "ghost", "server-secret-0123456789"}) {
        CAPTURE(pw);
        CHECK_FALSE(verify_password(scram_hash::sha256, pw, a));
        CHECK_FALSE(verify_password(scram_hash::sha1, pw, b));
    }

    // A whole SCRAM exchange against decoy credentials looks normal and ends in not-authorized.
    scram_server server(scram_hash::sha256, "servernonce");
    REQUIRE(server.receive_client_first("n,,n=ghost,r=clientnonce"));
    const std::string server_first = server.server_first(a);
    CHECK(server_first == "r=clientnonceservernonce,s=" + base64_encode(a.salt) + ",i=4096");
    const test_client client{scram_hash::sha256, "pencil"};
    const std::string without_proof = "c=biws,r=clientnonceservernonce";
    const std::string auth = "n=ghost,r=clientnonce," + server_first + "," + without_proof;
    auto final = server.receive_client_final(without_proof + ",p=" +
                                             base64_encode(client.proof(a.salt, 4096, auth)));
    REQUIRE_FALSE(final);
    CHECK(final.error().condition == "not-authorized");
}

TEST_CASE("scram: server nonce") {
    // Random nonces: 24 bytes -> 32 base64 characters, different per exchange.
    scram_server one(scram_hash::sha256);
    scram_server two(scram_hash::sha256);
    REQUIRE(one.receive_client_first("n,,n=u,r=c"));
    REQUIRE(two.receive_client_first("n,,n=u,r=c"));
    const auto creds = make_credentials(scram_hash::sha256, "pw", 4096);
    const std::string f1 = one.server_first(creds);
    const std::string f2 = two.server_first(creds);
    CHECK(f1 != f2);
    const std::string n1 = f1.substr(2, f1.find(',') - 2);
    CHECK(n1.size() == 1 + 32);
    CHECK(n1.starts_with("c"));
    // server_first only once per exchange.
    CHECK(one.server_first(creds).empty());
}

TEST_CASE("scram: base64") {
    CHECK(base64_encode("") == "");
    CHECK(base64_encode("f") == "Zg==");
    CHECK(base64_encode("fo") == "Zm8=");
    CHECK(base64_encode("foo") == "Zm9v");
    CHECK(base64_encode("foobar") == "Zm9vYmFy");
    CHECK(base64_encode("n,,") == "biws");
    CHECK(base64_encode(std::string("\0\xFF", 2)) == "AP8=");

    CHECK(b64d("") == "");
    CHECK(b64d("Zg==") == "f");
    CHECK(b64d("Zm8=") == "fo");
    CHECK(b64d("Zm9v") == "foo");
    CHECK(b64d("AP8=") == std::string("\0\xFF", 2));

    // Large round trip across the internal chunking.
    std::string big;
    for (int i = 0; i < 50000; ++i) {
        big += static_cast<char>(i * 7);
    }
    CHECK(b64d(base64_encode(big)) == big);

    for (const char* bad : {"Zg", "Zg=", "Z===", "====", "Zg==Zg==", "Z=g=", "Zm9v\n", " Zm9v", "Zm9-", "Zm_v",
                            "Zh==", "Zm9=", "Zm8==", "Zm9vY"}) {
        CAPTURE(bad);
        auto r = base64_decode(bad);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error() == "bad base64");
    }
}

TEST_CASE("scram: constant_time_equal") {
    CHECK(constant_time_equal("", ""));
    CHECK(constant_time_equal("abc", "abc"));
    CHECK_FALSE(constant_time_equal("abc", "abd"));
    CHECK_FALSE(constant_time_equal("abc", "ab"));
    CHECK_FALSE(constant_time_equal("", "a"));
}

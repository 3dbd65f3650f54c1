// Client sessions (server/c2s: c2s_session, c2s_negotiation, sasl_authenticator) on real loopback connections,
// spoken to by a test client: TLS before authentication, SASL (SCRAM-SHA-256 and PLAIN), binding, the checks on
// every stanza after it ('from' stamping, iq validation), delivery through the router, the stream errors for bad
// input, and leaving the session registry however the stream ends.
#include <doctest.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <string>

#include "tests/unit/server/session_fixture.hpp"

using namespace hush;
using namespace hush::session_testing;

namespace {

const std::string alice_phone = "alice@example.org/phone";
const std::string bob_laptop = "bob@example.org/laptop";

std::string message(std::string_view to, std::string_view body, std::string_view from = {}) {
    std::string xml = "<message type='chat' id='m1' to='" + std::string(to) + "'";
    if (!from.empty()) {
        xml += " from='" + std::string(from) + "'";
    }
    return xml + "><body>" + std::string(body) + "</body></message>";
}

// An independent SCRAM-SHA-256 client (RFC 5802 §3, RFC 7677), straight from OpenSSL.
class scram_sha256_client {
public:
    scram_sha256_client(std::string user, std::string pass)
        : user_(std::move(user)), password_(std::move(pass)), nonce_(sasl::random_hex(12)) {}

    std::string first() const { return "n,," + first_bare(); }

    // The client-final message for the server-first message; remembers the server signature to expect.
    std::string final(std::string_view server_first) {
        std::string salt_b64;
        std::string nonce;
        unsigned iterations = 0;
        for (std::size_t pos = 0; pos < server_first.size();) {
            auto end = server_first.find(',', pos);
            if (end == std::string_view::npos) {
                end = server_first.size();
            }
            const auto part = server_first.substr(pos, end - pos);
            if (part.starts_with("r=")) {
                nonce = part.substr(2);
            } else if (part.starts_with("s=")) {
                salt_b64 = part.substr(2);
            } else if (part.starts_with("i=")) {
                iterations = static_cast<unsigned>(std::stoul(std::string(part.substr(2))));
            }
            pos = end + 1;
        }
        REQUIRE(nonce.starts_with(nonce_));
        auto salt = sasl::base64_decode(salt_b64);
        REQUIRE(salt);
        const std::string without_proof = "c=biws,r=" + nonce;
        const std::string auth_message = first_bare() + "," + std::string(server_first) + "," + without_proof;
        std::string salted(32, '\0');
        PKCS5_PBKDF2_HMAC(password_.data(), static_cast<int>(password_.size()),
                          reinterpret_cast<const unsigned char*>(salt->data()), static_cast<int>(salt->size()),
                          static_cast<int>(iterations), EVP_sha256(), 32, reinterpret_cast<unsigned char*>(salted.data()));
        const std::string client_key = hmac(salted, "Client Key");
        std::string stored(32, '\0');
        unsigned len = 0;
        EVP_Digest(client_key.data(), client_key.size(), reinterpret_cast<unsigned char*>(stored.data()), &len,
                   EVP_sha256(), nullptr);
        const std::string signature = hmac(stored, auth_message);
        std::string proof = client_key;
        for (std::size_t i = 0; i < proof.size(); ++i) {
            proof[i] = static_cast<char>(proof[i] ^ signature[i]);
        }
        server_signature_ = hmac(hmac(salted, "Server Key"), auth_message);
        return without_proof + ",p=" + sasl::base64_encode(proof);
    }

    // What the server's success data must be.
    std::string expected_server_final() const { return "v=" + sasl::base64_encode(server_signature_); }

private:
    std::string first_bare() const { return "n=" + user_ + ",r=" + nonce_; }

    static std::string hmac(std::string_view key, std::string_view data) {
        std::string out(EVP_MAX_MD_SIZE, '\0');
        unsigned len = 0;
        HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
             data.size(), reinterpret_cast<unsigned char*>(out.data()), &len);
        out.resize(len);
        return out;
    }

    std::string user_;
    std::string password_;
    std::string nonce_;
    std::string server_signature_;
};

constexpr std::string_view ping_server =
    "<iq type='get' id='ping-1' to='example.org'><ping xmlns='urn:xmpp:ping'/></iq>";

// The names of the SASL mechanisms a features element offers.
std::vector<std::string> mechanisms(const stanza& features) {
    std::vector<std::string> out;
    for (auto m : features.child("mechanisms", ns::sasl).children("mechanism")) {
        out.emplace_back(m.text().get());
    }
    return out;
}

// Waits for the server's answer to a ping sent by `peer`, which must be a result addressed to `full`.
void check_ping(test_peer& peer, const std::string& full) {
    REQUIRE(peer.write(std::string(ping_server)));
    const stanza result = peer.expect("iq");
    CHECK(result.type() == "result");
    CHECK(result.id() == "ping-1");
    CHECK(result.from() == "example.org");
    CHECK(result.to() == full);
}

// One SCRAM-SHA-256 exchange on `peer` as `user` with `pass`: "success" (with the server's signature checked) or
// the failure's condition.
std::string scram_attempt(test_peer& peer, std::string_view user, std::string_view pass) {
    scram_sha256_client scram{std::string(user), std::string(pass)};
    REQUIRE(peer.write("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>" +
                       sasl::base64_encode(scram.first()) + "</auth>"));
    const stanza challenge = peer.expect("challenge", ns::sasl);
    auto server_first = sasl::base64_decode(challenge.element().text().get());
    REQUIRE(server_first);
    REQUIRE(peer.write("<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>" +
                       sasl::base64_encode(scram.final(*server_first)) + "</response>"));
    auto answer = peer.next();
    REQUIRE(answer);
    REQUIRE(answer->ns() == ns::sasl);
    if (answer->name() == "success") {
        auto server_final = sasl::base64_decode(answer->element().text().get());
        REQUIRE(server_final);
        CHECK(*server_final == scram.expected_server_final());  // the server knew the password too
        return "success";
    }
    CHECK(answer->name() == "failure");
    return condition_of(*answer);
}

}  // namespace

TEST_CASE("c2s a stream to the pubsub service's domain gets <host-unknown/>: it has no accounts") {
    session_world w;
    test_peer& client = w.connect_c2s(false);
    client.open_stream("pubsub." + std::string(domain));
    CHECK(client.stream_error() == "host-unknown");
    CHECK(client.stream_closed());
}

// ---- TLS before authentication ----------------------------------------------------------------------------------

TEST_CASE("c2s before TLS: only STARTTLS is offered, SASL gets <encryption-required/>, a stanza <policy-violation/>") {
    session_world w;
    test_peer& client = w.connect_c2s(false);
    client.open_stream();
    const stanza features = client.features();
    CHECK(client.headers().front().from == "example.org");
    CHECK(features.child("starttls", ns::tls).child("required"));
    CHECK_FALSE(has_child(features, "mechanisms", ns::sasl));

    // No authentication in the clear, whatever the mechanism: refused, but the stream goes on.
    REQUIRE(client.write(plain_auth("alice", password)));
    const stanza failure = client.expect("failure", ns::sasl);
    CHECK(condition_of(failure) == "encryption-required");
    CHECK_FALSE(client.ended());

    REQUIRE(client.write(message(bob_laptop, "in the clear")));
    CHECK(client.stream_error() == "policy-violation");
    CHECK(client.stream_closed());
    CHECK(w.registry.size() == 0);
}

TEST_CASE("c2s STARTTLS: <proceed/>, the handshake, a restarted stream offering SASL; a second STARTTLS is refused") {
    session_world w;
    test_peer& client = w.connect_c2s(false);
    client.open_stream();
    client.features();
    REQUIRE(client.starttls(w.client_tls));

    client.open_stream();
    const stanza features = client.features();
    CHECK_FALSE(has_child(features, "starttls", ns::tls));
    // TLS 1.3 and our certificate: both channel bindings, so the -PLUS mechanisms first (XEP-0440).
    CHECK(mechanisms(features) == std::vector<std::string>{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256",
                                                           "SCRAM-SHA-1", "PLAIN"});
    CHECK(client.headers().size() == 2);

    REQUIRE(client.write(plain_auth("alice", password)));
    client.expect("success", ns::sasl);
    client.open_stream();
    CHECK(has_child(client.features(), "bind", ns::bind));

    REQUIRE(client.write("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"));
    CHECK(client.stream_error() == "policy-violation");
}

TEST_CASE("c2s with PLAIN disabled: it is neither offered nor accepted") {
    session_world w;
    w.cfg.sasl.allow_plain = false;
    test_peer& client = w.connect_c2s(true);
    client.open_stream();
    CHECK(mechanisms(client.features()) ==
          std::vector<std::string>{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1"});
    REQUIRE(client.write(plain_auth("alice", password)));
    CHECK(condition_of(client.expect("failure", ns::sasl)) == "invalid-mechanism");
}

// ---- SASL and binding -------------------------------------------------------------------------------------------

TEST_CASE("c2s direct TLS: SCRAM-SHA-256 with the server's signature, stream restart, bind; the JID is registered") {
    session_world w;
    test_peer& client = w.connect_c2s(true);
    client.open_stream();
    const stanza features = client.features();
    CHECK_FALSE(has_child(features, "starttls", ns::tls));  // TLS is already on
    CHECK(mechanisms(features).front() == "SCRAM-SHA-256-PLUS");

    REQUIRE(scram_attempt(client, "alice", password) == "success");
    CHECK(w.registry.size() == 0);  // authenticated is not bound

    client.open_stream();
    const stanza restarted = client.features();
    CHECK(client.headers().size() == 2);
    CHECK(has_child(restarted, "bind", ns::bind));
    CHECK_FALSE(has_child(restarted, "mechanisms", ns::sasl));
    CHECK_FALSE(has_child(restarted, "ver", "urn:xmpp:features:rosterver"));  // no IM core in this world

    REQUIRE(client.write("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                         "<resource>phone</resource></bind></iq>"));
    const stanza bound = client.expect("iq");
    CHECK(bound.type() == "result");
    CHECK(bound.id() == "b1");
    CHECK(std::string(bound.child("bind", ns::bind).child("jid").text().get()) == alice_phone);
    CHECK(w.registry.size() == 1);
    CHECK(w.bound(alice_phone));
}

TEST_CASE("c2s bind without a resource: the server picks one, and the JID it returns is the registered one") {
    session_world w;
    test_peer& client = w.connect_c2s(true);
    client.open_stream();
    client.features();
    REQUIRE(client.write(plain_auth("bob", password)));
    client.expect("success", ns::sasl);
    client.open_stream();
    client.features();
    REQUIRE(client.write("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>"));
    const std::string full = client.expect("iq").child("bind", ns::bind).child("jid").text().get();
    CHECK(full.starts_with("bob@example.org/hush-"));
    CHECK(w.bound(full));
}

TEST_CASE("c2s wrong password or unknown account: <not-authorized/>, and the stream stays open for another try") {
    session_world w;
    w.cfg.limits.auth_failures_per_connection = 5;
    test_peer& client = w.connect_c2s(true);
    client.open_stream();
    client.features();

    REQUIRE(client.write(plain_auth("alice", "wrong password")));
    CHECK(condition_of(client.expect("failure", ns::sasl)) == "not-authorized");
    // The same answer for an account that does not exist: nothing tells the two apart.
    REQUIRE(client.write(plain_auth("nobody", password)));
    CHECK(condition_of(client.expect("failure", ns::sasl)) == "not-authorized");
    // With SCRAM, both get a challenge (a decoy one for the unknown account) and fail at the proof.
    CHECK(scram_attempt(client, "alice", "wrong password") == "not-authorized");
    CHECK(scram_attempt(client, "nobody", password) == "not-authorized");
    CHECK_FALSE(client.ended());
    CHECK(w.throttle.failures("127.0.0.1") == 4);

    REQUIRE(client.write(plain_auth("alice", password)));
    client.expect("success", ns::sasl);
    CHECK(w.throttle.failures("127.0.0.1") == 0);  // a success forgets the address's failures
}

TEST_CASE("c2s authentication failures: the configured number closes the stream with <policy-violation/>") {
    session_world w;
    w.cfg.limits.auth_failures_per_connection = 2;
    test_peer& client = w.connect_c2s(true);
    client.open_stream();
    client.features();
    REQUIRE(client.write(plain_auth("alice", "wrong 1")));
    CHECK(condition_of(client.expect("failure", ns::sasl)) == "not-authorized");
    CHECK_FALSE(client.ended());
    REQUIRE(client.write(plain_auth("alice", "wrong 2")));
    CHECK(condition_of(client.expect("failure", ns::sasl)) == "not-authorized");  // answered, then closed
    CHECK(client.stream_error() == "policy-violation");
    CHECK(w.registry.size() == 0);
}

TEST_CASE("c2s before binding: a stanza before SASL or before bind closes the stream with <not-authorized/>") {
    session_world w;
    SUBCASE("after TLS, before SASL") {
        test_peer& client = w.connect_c2s(true);
        client.open_stream();
        client.features();
        REQUIRE(client.write(message(bob_laptop, "hello")));
        CHECK(client.stream_error() == "not-authorized");
    }
    SUBCASE("after SASL, before bind") {
        test_peer& client = w.connect_c2s(true);
        client.open_stream();
        client.features();
        REQUIRE(client.write(plain_auth("alice", password)));
        client.expect("success", ns::sasl);
        client.open_stream();
        client.features();
        REQUIRE(client.write(std::string(ping_server)));
        CHECK(client.stream_error() == "not-authorized");
    }
    CHECK(w.registry.size() == 0);
}

TEST_CASE("c2s a second session for the same full JID replaces the first, which gets <conflict/>") {
    session_world w;
    test_peer& first = w.bound_client("alice", "phone");
    test_peer& second = w.bound_client("alice", "phone");
    CHECK(first.stream_error() == "conflict");
    CHECK(w.registry.size() == 1);
    check_ping(second, alice_phone);  // the JID now reaches the second session
}

// ---- after binding: 'from', iq, delivery ------------------------------------------------------------------------

TEST_CASE("c2s 'from': none or the bare JID is stamped with the full JID before the stanza is routed") {
    session_world w;
    test_peer& alice = w.bound_client("alice", "phone");
    test_peer& bob = w.bound_client("bob", "laptop");

    REQUIRE(alice.write(message(bob_laptop, "no from")));
    const stanza first = bob.expect("message");
    CHECK(first.from() == alice_phone);
    CHECK(first.to() == bob_laptop);
    CHECK(std::string(first.element().child("body").text().get()) == "no from");

    REQUIRE(alice.write(message(bob_laptop, "bare from", "alice@example.org")));
    CHECK(bob.expect("message").from() == alice_phone);

    REQUIRE(alice.write(message(bob_laptop, "own full from", alice_phone)));
    CHECK(bob.expect("message").from() == alice_phone);
    CHECK(w.log.calls == 3);  // each went through the anti-SPIM chain...
    CHECK(w.log.sender == alice_phone);  // ...judged by the authenticated sender
    CHECK(w.log.peer_address == "127.0.0.1");
}

TEST_CASE("c2s 'from' of anyone else closes the stream with <invalid-from/> and routes nothing (RFC 6120 8.1.2.1)") {
    session_world w;
    test_peer& alice = w.bound_client("alice", "phone");
    test_peer& bob = w.bound_client("bob", "laptop");
    std::string forged;
    SUBCASE("another account") { forged = "bob@example.org"; }
    SUBCASE("another resource of the same account") { forged = "alice@example.org/tablet"; }
    SUBCASE("another domain") { forged = "alice@elsewhere.test"; }

    REQUIRE(alice.write(message(bob_laptop, "forged", forged)));
    CHECK(alice.stream_error() == "invalid-from");
    CHECK(w.run_until([&] { return !w.bound(alice_phone); }));
    // Bob got nothing: his next stanza is the answer to his own ping.
    check_ping(bob, bob_laptop);
    CHECK(w.log.calls == 0);
}

TEST_CASE("c2s iq: a ping to the server is answered through the router; an iq without an id gets <bad-request/>") {
    session_world w;
    test_peer& alice = w.bound_client("alice", "phone");
    check_ping(alice, alice_phone);

    REQUIRE(alice.write("<iq type='get' to='example.org'><ping xmlns='urn:xmpp:ping'/></iq>"));
    const stanza error = alice.expect("iq");
    CHECK(error.type() == "error");
    CHECK(test::error_of(error).condition == "bad-request");

    // Two payloads are as bad as none; the session stays up after both.
    REQUIRE(alice.write("<iq type='get' id='two'><ping xmlns='urn:xmpp:ping'/><ping xmlns='urn:xmpp:ping'/></iq>"));
    const stanza two = alice.expect("iq");
    CHECK(two.id() == "two");
    CHECK(test::error_of(two).condition == "bad-request");
    check_ping(alice, alice_phone);
}

TEST_CASE("c2s message to another bound client: delivered to the full JID, and to the bare JID once available") {
    session_world w;
    test_peer& alice = w.bound_client("alice", "phone");
    test_peer& bob = w.bound_client("bob", "laptop");

    REQUIRE(alice.write(message(bob_laptop, "to the resource")));
    const stanza direct = bob.expect("message");
    CHECK(std::string(direct.element().child("body").text().get()) == "to the resource");

    // Without an IM core, presence only updates the registry: then the bare JID reaches the resource.
    REQUIRE(bob.write("<presence><priority>5</priority></presence>"));
    const jid bob_bare = router_testing::parse_jid("bob@example.org");
    REQUIRE(w.run_until([&] { return !w.registry.best_available(bob_bare).empty(); }));
    CHECK(w.registry.best_available(bob_bare).front().priority == 5);
    REQUIRE(alice.write(message("bob@example.org", "to the account")));
    const stanza via_bare = bob.expect("message");
    CHECK(via_bare.to() == "bob@example.org");
    CHECK(via_bare.from() == alice_phone);
    CHECK(std::string(via_bare.element().child("body").text().get()) == "to the account");

    // A 'to' that is no JID is answered by the session itself.
    REQUIRE(alice.write(message("bob@@example.org", "malformed")));
    const stanza malformed = alice.expect("message");
    CHECK(malformed.type() == "error");
    CHECK(malformed.from() == "example.org");
    CHECK(test::error_of(malformed).condition == "jid-malformed");

    // A resource that is not there: the sender gets the error back (RFC 6121 8.5.3.2.2 for an iq).
    REQUIRE(alice.write("<iq type='get' id='gone' to='bob@example.org/nowhere'><ping xmlns='urn:xmpp:ping'/></iq>"));
    const stanza bounced = alice.expect("iq");
    CHECK(bounced.id() == "gone");
    CHECK(test::error_of(bounced).condition == "service-unavailable");
}

// ---- bad input ----------------------------------------------------------------------------------------------------

TEST_CASE("c2s bad input closes only that stream with the parser's error; it leaves the registry, others go on") {
    session_world w;
    w.cfg.limits.max_stanza_bytes = 4096;
    w.cfg.limits.max_depth = 8;
    test_peer& alice = w.bound_client("alice", "phone");
    test_peer& bob = w.bound_client("bob", "laptop");
    std::string input;
    std::string condition;
    SUBCASE("a stanza over max_stanza_bytes") {
        input = message(bob_laptop, std::string(8192, 'x'));
        condition = "policy-violation";
    }
    SUBCASE("elements nested deeper than max_depth") {
        std::string nested;
        for (int i = 0; i < 12; ++i) {
            nested = "<x>" + nested + "</x>";
        }
        input = message(bob_laptop, nested);
        condition = "policy-violation";
    }
    SUBCASE("XML that is not well-formed") {
        input = "<message to='" + bob_laptop + "'><body>unclosed</message>";
        condition = "not-well-formed";
    }
    SUBCASE("a comment (restricted XML, RFC 6120 11.1)") {
        input = "<!-- hello -->";
        condition = "restricted-xml";
    }

    alice.write(input);  // may fail part-way: the server stops reading what it refuses
    CHECK(alice.stream_error() == condition);
    CHECK(alice.stream_closed());
    CHECK(w.run_until([&] { return !w.bound(alice_phone); }));
    CHECK(w.registry.size() == 1);
    check_ping(bob, bob_laptop);
    for (const auto& s : bob.received()) {
        CHECK(s.name() != "message");  // nothing of alice's input reached him
    }
}

TEST_CASE("c2s a stanza just under the size limit is accepted") {
    session_world w;
    w.cfg.limits.max_stanza_bytes = 4096;
    test_peer& alice = w.bound_client("alice", "phone");
    test_peer& bob = w.bound_client("bob", "laptop");
    const std::string text = message(bob_laptop, std::string(3500, 'y'));
    REQUIRE(text.size() < 4096);
    REQUIRE(alice.write(text));
    CHECK(bob.expect("message").element().child("body").text().get() == std::string(3500, 'y'));
    CHECK_FALSE(alice.ended());
}

TEST_CASE("c2s an unknown top-level element closes the stream with <unsupported-stanza-type/>") {
    session_world w;
    test_peer& alice = w.bound_client("alice", "phone");
    REQUIRE(alice.write("<query xmlns='jabber:iq:roster'/>"));
    CHECK(alice.stream_error() == "unsupported-stanza-type");
    CHECK(w.run_until([&] { return w.registry.size() == 0; }));
}

// ---- the end of a session -----------------------------------------------------------------------------------------

TEST_CASE("c2s session end: the JID leaves the registry and the session is freed, however the client goes") {
    session_world w;
    test_peer& alice = w.bound_client("alice", "phone");
    test_peer& bob = w.bound_client("bob", "laptop");
    REQUIRE(w.registry.size() == 2);
    REQUIRE(w.connections.size() == 2);
    // Held here, the session cannot be destroyed: leaving the registry is the work of on_close_begun(), not of
    // the destructor.
    auto held = w.c2s_sessions.front().lock();
    REQUIRE(held);

    SUBCASE("the client ends its stream") {
        REQUIRE(alice.write("</stream:stream>"));
        CHECK(alice.wait_ended());
        CHECK(alice.stream_closed());  // answered with the server's own </stream:stream>
        CHECK(alice.stream_error().empty());
    }
    SUBCASE("the client drops the connection") {
        alice.close();
    }

    CHECK(w.run_until([&] { return !w.bound(alice_phone); }));
    held.reset();
    CHECK(w.run_until([&] { return w.c2s_sessions.front().expired() && w.connections.size() == 1; }));
    CHECK(w.bound(bob_laptop));
    check_ping(bob, bob_laptop);

    // A message to the gone resource is not delivered to anyone: Bob gets the error.
    REQUIRE(bob.write(message(alice_phone, "still there?")));
    const stanza bounced = bob.expect("message");
    CHECK(bounced.type() == "error");
    CHECK(test::error_of(bounced).condition == "service-unavailable");
}

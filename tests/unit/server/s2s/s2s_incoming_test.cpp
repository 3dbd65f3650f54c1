// Incoming server-to-server streams (server/s2s/s2s_incoming) on real loopback connections, spoken to by a test
// peer server: TLS before anything else, the header checks, authentication (SASL EXTERNAL and dialback backed by
// the peer's certificate, XEP-0344; dialback that cannot be verified), the checks on every stanza ('from'
// authenticated on this stream, 'to' ours), and the answers we give as an authoritative server (<db:verify/>).
// The peer's certificate is a self-signed one for remote.test, trusted through [s2s] ca_file.
#include <doctest.h>

#include <memory>
#include <string>

#include "protocol/dialback.hpp"
#include "tests/unit/recording.hpp"
#include "tests/unit/server/session_fixture.hpp"

using namespace hush;
using namespace hush::session_testing;

namespace {

constexpr std::string_view remote = "remote.test";

// A session_world with a peer server for remote.test: its certificate trusted (or not) and a local session
// alice@example.org/phone that records what reaches it.
struct s2s_world : session_world {
    explicit s2s_world(bool trust_peer_certificate = true) {
        const auto peer_cert = ensure_self_signed(dir.path() / "remote", {std::string(remote)});
        if (trust_peer_certificate) {
            cfg.s2s.ca_file = peer_cert.certificate;
        }
        peer_tls.set_verify_mode(ssl::verify_none);
        peer_tls.use_certificate_chain_file(peer_cert.certificate.string());
        peer_tls.use_private_key_file(peer_cert.key.string(), ssl::context::pem);
        registry.bind(router_testing::parse_jid("alice@example.org/phone"), alice);
    }
    ~s2s_world() { shut_down(); }  // before peer_tls goes

    // A direct-TLS stream from remote.test, header sent and features read. `with_certificate`: the peer presents
    // its certificate (else none, like a client).
    test_peer& open(bool with_certificate, stanza* features = nullptr) {
        test_peer& peer = connect_s2s(true, with_certificate ? peer_tls : client_tls);
        peer.open_stream(domain, remote);
        stanza f = peer.features();
        if (features != nullptr) {
            *features = f;
        }
        return peer;
    }

    ssl::context peer_tls{ssl::context::tls_client};
    std::shared_ptr<test::recording_session> alice = std::make_shared<test::recording_session>();
};

std::string remote_message(std::string_view from, std::string_view to, std::string_view body = "hi") {
    return "<message type='chat' id='r1' from='" + std::string(from) + "' to='" + std::string(to) + "'><body>" +
           std::string(body) + "</body></message>";
}

std::string db_result(std::string_view from, std::string_view to, std::string_view key = "0123456789abcdef") {
    return "<db:result from='" + std::string(from) + "' to='" + std::string(to) + "'>" + std::string(key) +
           "</db:result>";
}

bool offers_external(const stanza& features) {
    for (auto m : features.child("mechanisms", ns::sasl).children("mechanism")) {
        if (std::string_view(m.text().get()) == "EXTERNAL") {
            return true;
        }
    }
    return false;
}

// Expects the <db:result/> answer for remote.test -> example.org, of type `type`.
stanza expect_result_answer(test_peer& peer, std::string_view type) {
    const stanza answer = peer.expect("result", dialback_ns::elements);
    CHECK(answer.type() == type);
    CHECK(answer.from() == "example.org");
    CHECK(answer.to() == remote);
    return answer;
}

}  // namespace

// ---- before authentication ----------------------------------------------------------------------------------------

TEST_CASE("s2s plain stream: only STARTTLS is offered; a stanza or dialback before TLS gets <policy-violation/>") {
    s2s_world w;
    test_peer& peer = w.connect_s2s(false, w.client_tls);
    peer.open_stream(domain, remote);
    const stanza features = peer.features();
    CHECK(features.child("starttls", ns::tls).child("required"));
    CHECK_FALSE(has_child(features, "dialback", dialback_ns::feature));
    CHECK_FALSE(has_child(features, "mechanisms", ns::sasl));
    CHECK(peer.headers().front().to == remote);  // our header names the peer's domain back

    SUBCASE("a stanza") { REQUIRE(peer.write(remote_message("juliet@remote.test", "alice@example.org/phone"))); }
    SUBCASE("a dialback request") { REQUIRE(peer.write(db_result(remote, domain))); }
    CHECK(peer.stream_error() == "policy-violation");
    CHECK(w.alice->delivered.empty());
    CHECK(w.log.calls == 0);
}

TEST_CASE("s2s STARTTLS: <proceed/>, the handshake, and a restarted stream offering dialback") {
    s2s_world w;
    test_peer& peer = w.connect_s2s(false, w.peer_tls);
    peer.open_stream(domain, remote);
    peer.features();
    REQUIRE(peer.starttls(w.peer_tls));
    peer.open_stream(domain, remote);
    const stanza features = peer.features();
    CHECK_FALSE(has_child(features, "starttls", ns::tls));
    CHECK(features.child("dialback", dialback_ns::feature).child("errors"));
    CHECK(offers_external(features));  // the certificate is valid for remote.test
}

TEST_CASE("s2s stream header: a domain we do not serve gets <host-unknown/>, our own as 'from' <invalid-from/>") {
    s2s_world w;
    test_peer& peer = w.connect_s2s(false, w.client_tls);
    std::string condition;
    SUBCASE("'to' another domain") {
        peer.open_stream("other.test", remote);
        condition = "host-unknown";
    }
    SUBCASE("'from' one of our domains") {
        peer.open_stream(domain, domain);
        condition = "invalid-from";
    }
    CHECK(peer.stream_error() == condition);
    CHECK(peer.headers().size() == 1);  // the error came inside a stream header of ours (RFC 6120 4.9.1.1)
    CHECK(peer.stream_closed());
}

TEST_CASE("s2s after TLS without a certificate: no EXTERNAL, SASL refused, a stanza gets <not-authorized/>") {
    s2s_world w;
    stanza features;
    test_peer& peer = w.open(false, &features);
    CHECK(has_child(features, "dialback", dialback_ns::feature));
    CHECK_FALSE(offers_external(features));

    REQUIRE(peer.write("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>=</auth>"));
    CHECK(condition_of(peer.expect("failure", ns::sasl)) == "not-authorized");
    CHECK_FALSE(peer.ended());

    REQUIRE(peer.write(remote_message("juliet@remote.test", "alice@example.org/phone")));
    CHECK(peer.stream_error() == "not-authorized");
    CHECK(w.alice->delivered.empty());
}

TEST_CASE("s2s an untrusted certificate: EXTERNAL neither offered nor accepted, stanzas refused") {
    s2s_world w(false);  // the same certificate, but not in ca_file: self-signed and untrusted
    stanza features;
    test_peer& peer = w.open(true, &features);
    CHECK_FALSE(offers_external(features));
    REQUIRE(peer.write("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>=</auth>"));
    CHECK(condition_of(peer.expect("failure", ns::sasl)) == "not-authorized");
    REQUIRE(peer.write(remote_message("juliet@remote.test", "alice@example.org/phone")));
    CHECK(peer.stream_error() == "not-authorized");
}

TEST_CASE("s2s dialback that cannot be verified: <db:result type='error'/>, and stanzas are still refused") {
    s2s_world w(false);
    // The authoritative server for remote.test is a port nobody listens on.
    std::uint16_t closed_port = 0;
    {
        tcp::acceptor probe(w.io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        closed_port = probe.local_endpoint().port();
    }
    w.cfg.s2s.hosts[std::string(remote)] = {endpoint_spec{"127.0.0.1", closed_port, false}};
    test_peer& peer = w.open(true);
    REQUIRE(peer.write(db_result(remote, domain)));
    const stanza answer = expect_result_answer(peer, "error");
    CHECK(test::error_of(answer).condition == "remote-server-not-found");
    CHECK_FALSE(peer.ended());

    REQUIRE(peer.write(remote_message("juliet@remote.test", "alice@example.org/phone")));
    CHECK(peer.stream_error() == "not-authorized");
    CHECK(w.alice->delivered.empty());
}

// ---- authenticated streams --------------------------------------------------------------------------------------

TEST_CASE("s2s dialback backed by a valid certificate (XEP-0344): valid at once; its stanzas reach local sessions") {
    s2s_world w;
    test_peer& peer = w.open(true);
    REQUIRE(peer.write(db_result(remote, domain)));
    expect_result_answer(peer, "valid");

    REQUIRE(peer.write(remote_message("juliet@remote.test/balcony", "alice@example.org/phone", "wherefore")));
    REQUIRE(w.run_until([&] { return !w.alice->delivered.empty(); }));
    const stanza& got = w.alice->delivered.front();
    CHECK(got.from() == "juliet@remote.test/balcony");
    CHECK(got.to() == "alice@example.org/phone");
    CHECK(std::string(got.element().child("body").text().get()) == "wherefore");
    // Judged like every stanza, as coming from the remote domain over this connection.
    CHECK(w.log.calls == 1);
    CHECK(w.log.origin == antispim::origin_kind::remote_domain);
    CHECK(w.log.origin_domain == remote);
    CHECK(w.log.peer_address == "127.0.0.1");

    // Asking again for an authorized pair is answered valid again (a peer may repeat itself).
    REQUIRE(peer.write(db_result(remote, domain)));
    expect_result_answer(peer, "valid");
}

TEST_CASE("s2s a stanza whose 'from' domain is not authenticated on the stream gets <invalid-from/>") {
    s2s_world w;
    test_peer& peer = w.open(true);
    REQUIRE(peer.write(db_result(remote, domain)));
    expect_result_answer(peer, "valid");
    std::string from;
    SUBCASE("another remote domain") { from = "mallory@evil.test"; }
    SUBCASE("one of our own domains") { from = "bob@example.org"; }
    SUBCASE("a subdomain of the authenticated one") { from = "room@muc.remote.test"; }
    REQUIRE(peer.write(remote_message(from, "alice@example.org/phone")));
    CHECK(peer.stream_error() == "invalid-from");
    CHECK(w.alice->delivered.empty());
    CHECK(w.log.calls == 0);
}

TEST_CASE("s2s stanzas need 'from' and 'to' (<improper-addressing/>) and a 'to' we serve (<host-unknown/>)") {
    s2s_world w;
    test_peer& peer = w.open(true);
    REQUIRE(peer.write(db_result(remote, domain)));
    expect_result_answer(peer, "valid");
    std::string stanza_xml;
    std::string condition;
    SUBCASE("no 'from'") {
        stanza_xml = "<message to='alice@example.org/phone'><body>x</body></message>";
        condition = "improper-addressing";
    }
    SUBCASE("no 'to'") {
        stanza_xml = "<message from='juliet@remote.test'><body>x</body></message>";
        condition = "improper-addressing";
    }
    SUBCASE("'to' another domain (no relaying)") {
        stanza_xml = remote_message("juliet@remote.test", "someone@third.test");
        condition = "host-unknown";
    }
    REQUIRE(peer.write(stanza_xml));
    CHECK(peer.stream_error() == condition);
    CHECK(w.alice->delivered.empty());
}

TEST_CASE("s2s SASL EXTERNAL: the authzid must be the stream's domain; success restarts the stream") {
    s2s_world w;
    stanza features;
    test_peer& peer = w.open(true, &features);
    REQUIRE(offers_external(features));

    REQUIRE(peer.write("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>" +
                       sasl::base64_encode("other.test") + "</auth>"));
    CHECK(condition_of(peer.expect("failure", ns::sasl)) == "invalid-authzid");
    REQUIRE(peer.write("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>=</auth>"));
    CHECK(condition_of(peer.expect("failure", ns::sasl)) == "invalid-mechanism");

    REQUIRE(peer.write("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>" +
                       sasl::base64_encode(std::string(remote)) + "</auth>"));
    peer.expect("success", ns::sasl);
    peer.open_stream(domain, remote);
    const stanza restarted = peer.features();
    CHECK(peer.headers().size() == 2);
    CHECK_FALSE(offers_external(restarted));  // once is enough

    REQUIRE(peer.write(remote_message("juliet@remote.test", "alice@example.org/phone", "via EXTERNAL")));
    REQUIRE(w.run_until([&] { return !w.alice->delivered.empty(); }));
    CHECK(std::string(w.alice->delivered.front().element().child("body").text().get()) == "via EXTERNAL");
}

TEST_CASE("s2s an iq without an id is not delivered and does not close the stream") {
    s2s_world w;
    test_peer& peer = w.open(true);
    REQUIRE(peer.write(db_result(remote, domain)));
    expect_result_answer(peer, "valid");
    // Its <bad-request/> goes back to remote.test through the router, which has no federation here to carry it:
    // what is checked is that Alice gets nothing of it and the stream goes on.
    REQUIRE(peer.write("<iq type='get' from='juliet@remote.test/b' to='alice@example.org/phone'>"
                       "<ping xmlns='urn:xmpp:ping'/></iq>"));
    REQUIRE(peer.write(remote_message("juliet@remote.test", "alice@example.org/phone", "after")));
    REQUIRE(w.run_until([&] { return !w.alice->delivered.empty(); }));
    REQUIRE(w.alice->delivered.size() == 1);
    CHECK(w.alice->delivered.front().name() == "message");
    CHECK_FALSE(peer.ended());
}

// ---- as the authoritative server --------------------------------------------------------------------------------

TEST_CASE("s2s <db:verify/>: a key we made for that stream is valid, any other invalid, other domains an error") {
    s2s_world w;
    test_peer& peer = w.open(false);
    // remote.test received a stream from us (id s1) with this key and asks whether we made it.
    const std::string key = dialback_key(w.ctx.server_secret, remote, domain, "s1");
    auto verify = [](std::string_view to, std::string_view id, std::string_view k) {
        return "<db:verify from='remote.test' to='" + std::string(to) + "' id='" + std::string(id) + "'>" +
               std::string(k) + "</db:verify>";
    };

    REQUIRE(peer.write(verify(domain, "s1", key)));
    stanza answer = peer.expect("verify", dialback_ns::elements);
    CHECK(answer.type() == "valid");
    CHECK(answer.from() == "example.org");
    CHECK(answer.to() == remote);
    CHECK(std::string_view(answer.element().attribute("id").value()) == "s1");

    REQUIRE(peer.write(verify(domain, "s2", key)));  // the key of another stream
    CHECK(peer.expect("verify", dialback_ns::elements).type() == "invalid");
    REQUIRE(peer.write(verify(domain, "s1", std::string(64, '0'))));
    CHECK(peer.expect("verify", dialback_ns::elements).type() == "invalid");

    REQUIRE(peer.write(verify("other.test", "s1", key)));
    answer = peer.expect("verify", dialback_ns::elements);
    CHECK(answer.type() == "error");
    CHECK(test::error_of(answer).condition == "item-not-found");
    CHECK_FALSE(peer.ended());  // answering questions is what this stream is for
}

TEST_CASE("s2s the pubsub service's domain is ours: streams to it, dialback for it, our answers as its authority") {
    s2s_world w;
    const std::string service = "pubsub." + std::string(domain);
    REQUIRE(w.routes.is_local_domain(service));
    CHECK_FALSE(w.routes.serves_accounts(service));  // no client streams, no accounts

    // A peer's stream to the service (as b.test's [[antispim.rtbl]] subscriptions come): accepted, and the peer
    // authenticates for it like for a host.
    test_peer& peer = w.connect_s2s(true, w.peer_tls);
    peer.open_stream(service, remote);
    peer.features();
    CHECK(peer.headers().size() == 1);
    REQUIRE(peer.write(db_result(remote, service)));
    const stanza answer = peer.expect("result", dialback_ns::elements);
    CHECK(answer.type() == "valid");
    CHECK(answer.from() == service);
    REQUIRE(peer.write("<message from='remote.test' to='" + service + "' id='m1'><body>hi</body></message>"));

    // remote.test got a stream from the service (id s1, its notifications) and asks us, its authoritative server.
    const std::string key = dialback_key(w.ctx.server_secret, remote, service, "s1");
    REQUIRE(peer.write("<db:verify from='remote.test' to='" + service + "' id='s1'>" + key + "</db:verify>"));
    const stanza verified = peer.expect("verify", dialback_ns::elements);
    CHECK(verified.type() == "valid");
    CHECK(verified.from() == service);
    CHECK_FALSE(peer.ended());
}

#pragma once
// What the c2s and s2s session tests share: a real server_context (SQLite store with the accounts alice and bob,
// a self-signed certificate, the session registry, a router with a pass-everything chain and no IM core) and
// test peers that talk to real sessions over loopback TCP, with or without TLS. Everything runs on one
// io_context; the test drives it with run_until(condition, deadline) — never with sleeps.
#include <doctest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

#include "protocol/namespaces.hpp"
#include "protocol/scram.hpp"
#include "protocol/stream_parser.hpp"
#include "server/c2s/c2s_session.hpp"
#include "server/im/accounts.hpp"
#include "server/s2s/s2s_incoming.hpp"
#include "server/s2s/s2s_manager.hpp"
#include "server/stream/certificate.hpp"
#include "server/pubsub/pubsub_engine.hpp"
#include "tests/unit/server/pipeline/router_fixture.hpp"
#include "tests/unit/test_support.hpp"

namespace hush::session_testing {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using asio::ip::tcp;
using namespace std::chrono_literals;

constexpr std::string_view domain = "example.org";
constexpr std::string_view password = "correct horse battery";
constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

// Runs `io` until `done()` or the deadline; false on timeout. The world keeps `io` from running out of work, so
// this blocks in the event loop (not in a sleep) while nothing is ready.
inline bool run_until(asio::io_context& io, const std::function<bool()>& done,
                      std::chrono::milliseconds timeout = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
        if (std::chrono::steady_clock::now() >= deadline) {
            return false;
        }
        io.run_one_until(deadline);
    }
    return true;
}

inline bool has_child(const stanza& s, std::string_view name, std::string_view child_ns) {
    return static_cast<bool>(s.child(name, child_ns));
}

// The condition of an error element (<stream:error/> or a SASL <failure/>): its first child that is not <text/>.
inline std::string condition_of(const stanza& s) {
    for (auto c : s.element().children()) {
        if (c.type() == pugi::node_element && std::string_view(c.name()) != "text") {
            return c.name();
        }
    }
    return {};
}

// The other end of one session's TCP connection, as a client or a peer server would be. A reader coroutine
// parses what the server sends into headers and top-level elements; the test reads them in order.
class test_peer {
public:
    test_peer(asio::io_context& io, tcp::socket socket, std::string_view content_ns)
        : io_(io), plain_(std::move(socket)), content_ns_(content_ns) {}

    test_peer(const test_peer&) = delete;
    test_peer& operator=(const test_peer&) = delete;

    // Plain text from the start (a STARTTLS port).
    void start_plain() { start_reader(); }

    // The client side of a TLS handshake on the connection (direct TLS, or after <proceed/>).
    bool start_tls(ssl::context& context) {
        auto state = std::make_shared<std::optional<boost::system::error_code>>();
        tls_ = std::make_unique<ssl::stream<tcp::socket>>(std::move(plain_), context);
        asio::co_spawn(
            io_,
            [this, state]() -> asio::awaitable<void> {
                auto [ec] = co_await tls_->async_handshake(ssl::stream_base::client, tuple_awaitable);
                *state = ec;
            },
            asio::detached);
        if (!run_until(io_, [&] { return state->has_value(); }) || **state) {
            return false;
        }
        start_reader();
        return true;
    }

    // Writes `bytes`; false when the connection refused them (the server closed it) or it took too long.
    bool write(std::string bytes) {
        struct pending {
            std::string bytes;
            bool done = false;
            boost::system::error_code ec;
        };
        auto state = std::make_shared<pending>();
        state->bytes = std::move(bytes);
        asio::co_spawn(
            io_,
            [this, state]() -> asio::awaitable<void> {
                auto buffer = asio::buffer(state->bytes);
                if (tls_) {
                    std::tie(state->ec, std::ignore) = co_await asio::async_write(*tls_, buffer, tuple_awaitable);
                } else {
                    std::tie(state->ec, std::ignore) = co_await asio::async_write(plain_, buffer, tuple_awaitable);
                }
                state->done = true;
            },
            asio::detached);
        return run_until(io_, [&] { return state->done; }) && !state->ec;
    }

    void open_stream(std::string_view to = domain, std::string_view from = {}) {
        std::string header = "<?xml version='1.0'?><stream:stream xmlns='" + std::string(content_ns_) +
                             "' xmlns:stream='http://etherx.jabber.org/streams' to='" + std::string(to) + "'";
        if (content_ns_ == ns::server) {
            header += " " + std::string(dialback_prefix_declaration);  // as servers speaking dialback do
        }
        if (!from.empty()) {
            header += " from='" + std::string(from) + "'";
        }
        header += " version='1.0'>";
        REQUIRE(write(std::move(header)));
    }

    // The next top-level element the server sent, waiting for it up to `timeout`; nullopt when none came.
    std::optional<stanza> next(std::chrono::milliseconds timeout = 10s) {
        run_until(io_, [&] { return cursor_ < received_.size() || ended_; }, timeout);
        if (cursor_ == received_.size()) {
            return std::nullopt;
        }
        return received_[cursor_++];
    }

    // The next element, which must be `name` in `element_ns` ("" for the stream's content namespace).
    stanza expect(std::string_view name, std::string_view element_ns = {}) {
        auto s = next();
        REQUIRE_MESSAGE(s.has_value(), "nothing received, expected <" << name << "/>");
        INFO("received: " << s->serialize());
        REQUIRE(s->name() == name);
        REQUIRE(s->ns() == element_ns);
        return *s;
    }

    // The features after a stream header.
    stanza features() {
        stanza f = expect("features", ns::streams);
        CHECK_FALSE(headers_.empty());
        return f;
    }

    // Waits until the server has closed the connection (the reader saw its end).
    bool wait_ended(std::chrono::milliseconds timeout = 10s) {
        return run_until(io_, [&] { return ended_; }, timeout);
    }

    // The condition of the stream error the server sent before closing ("" if none), once it has closed.
    std::string stream_error() {
        wait_ended();
        for (const auto& s : received_) {
            if (s.name() == "error" && s.ns() == ns::streams) {
                return condition_of(s);
            }
        }
        return {};
    }

    // Drops the connection without a closing handshake.
    void close() {
        boost::system::error_code ec;
        raw().shutdown(tcp::socket::shutdown_both, ec);
        raw().close(ec);
    }

    // STARTTLS on a plain connection whose features offered it: <proceed/>, then the handshake.
    bool starttls(ssl::context& context) {
        REQUIRE(write("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"));
        expect("proceed", ns::tls);
        return start_tls(context);
    }

    tcp::socket& raw() { return tls_ ? tls_->next_layer() : plain_; }
    bool reading() const { return reading_; }
    bool ended() const { return ended_; }
    bool stream_closed() const { return stream_closed_; }  // the server sent </stream:stream>
    const std::vector<xml::stream_open>& headers() const { return headers_; }
    const std::vector<stanza>& received() const { return received_; }

private:
    void start_reader() {
        reading_ = true;
        asio::co_spawn(io_, [this]() -> asio::awaitable<void> { co_await read_loop(); }, asio::detached);
    }

    asio::awaitable<void> read_loop() {
        std::vector<char> buffer(16384);
        for (;;) {
            boost::system::error_code ec;
            std::size_t n = 0;
            if (tls_) {
                std::tie(ec, n) = co_await tls_->async_read_some(asio::buffer(buffer), tuple_awaitable);
            } else {
                std::tie(ec, n) = co_await plain_.async_read_some(asio::buffer(buffer), tuple_awaitable);
            }
            if (ec) {
                ended_ = true;
                reading_ = false;
                co_return;
            }
            std::vector<xml::stream_event> events;
            if (auto error = parser_.feed(std::string_view(buffer.data(), n), events)) {
                FAIL_CHECK("the server sent bad XML: " << error->condition << " " << error->text);
            }
            bool restart = false;
            bool stop = false;
            for (auto& event : events) {
                if (auto* open = std::get_if<xml::stream_open>(&event)) {
                    headers_.push_back(*open);
                } else if (std::holds_alternative<xml::stream_close>(event)) {
                    stream_closed_ = true;
                } else {
                    stanza s = std::move(std::get<xml::top_level_element>(event).element);
                    // The server's next bytes belong to a new stream (after SASL success) or to TLS (after
                    // <proceed/>, when this plain-text reader must stop reading).
                    restart = restart || (s.ns() == ns::sasl && s.name() == "success");
                    stop = stop || (s.ns() == ns::tls && s.name() == "proceed");
                    received_.push_back(std::move(s));
                }
            }
            if (restart || stop) {
                parser_.reset();
            }
            if (stop) {
                reading_ = false;
                co_return;
            }
        }
    }

    asio::io_context& io_;
    tcp::socket plain_;
    std::unique_ptr<ssl::stream<tcp::socket>> tls_;
    std::string_view content_ns_;
    xml::stream_parser parser_{xml::parser_limits{4 * 1024 * 1024, 128}};
    std::vector<xml::stream_open> headers_;
    std::vector<stanza> received_;
    std::size_t cursor_ = 0;
    bool reading_ = false;
    bool ended_ = false;
    bool stream_closed_ = false;
};

inline std::string plain_auth(std::string_view user, std::string_view pass) {
    std::string message;
    message += '\0';
    message += user;
    message += '\0';
    message += pass;
    return "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + sasl::base64_encode(message) +
           "</auth>";
}

// Quiets the sessions' info logs for the length of a test, then puts the level back.
class log_level_guard {
public:
    explicit log_level_guard(spdlog::level::level_enum level) : saved_(spdlog::get_level()) { spdlog::set_level(level); }
    ~log_level_guard() { spdlog::set_level(saved_); }
    log_level_guard(const log_level_guard&) = delete;
    log_level_guard& operator=(const log_level_guard&) = delete;

private:
    spdlog::level::level_enum saved_;
};

inline config make_config(const test::temp_dir& dir) {
    config c;
    c.hosts = {std::string(domain)};
    c.storage = test::sqlite_options(dir.path());
    c.pubsub.service = "pubsub." + std::string(domain);  // a domain of ours too: federation serves it
    return c;
}

// The server as a session sees it. Tests may change `cfg` (limits, s2s) before they connect: sessions read it
// when they are made.
struct session_world {
    session_world() {
        client_tls.set_verify_mode(ssl::verify_none);
        add_account("alice");
        add_account("bob");
    }

    ~session_world() { shut_down(); }

    // Closes every peer, then runs the loop until every session has gone (the connection tracker is empty) and
    // every reader has stopped, so no coroutine outlives what it refers to. A derived world whose members the
    // peers use calls it first.
    void shut_down() {
        for (auto& p : peers) {
            p->close();
        }
        session_testing::run_until(io, [&] {
            for (const auto& p : peers) {
                if (p->reading()) {
                    return false;
                }
            }
            return connections.size() == 0;
        }, 10s);
    }

    void add_account(const std::string& node) {
        auto creds = accounts::make_credentials(password, 4096);
        REQUIRE(creds);
        auto created = test::run_sync(store.run([node, creds = *creds](storage::store& s) {
            return s.create_account(std::string(domain), node, creds);
        }));
        REQUIRE(created);
        REQUIRE(*created);
    }

    // A client connection to a new c2s_session, made as the listener makes it. With `direct_tls` the peer has
    // done its TLS handshake; otherwise it speaks plain text.
    test_peer& connect_c2s(bool direct_tls) {
        auto c = accept();
        auto session = std::make_shared<c2s_session>(std::move(c.server_side), direct_tls, ctx, std::move(c.slot));
        session->start();
        c2s_sessions.push_back(session);
        return add_peer(std::move(c.peer_side), direct_tls, ns::client, client_tls);
    }

    // A peer server's connection to a new s2s_incoming_stream; `peer_tls` is what the peer presents.
    test_peer& connect_s2s(bool direct_tls, ssl::context& peer_tls) {
        if (!federation) {
            federation = std::make_unique<s2s_manager>(
                s2s_context{cfg, tls, connections, ctx.server_secret, nullptr}, [this] { return io.get_executor(); });
        }
        auto c = accept();
        auto stream = std::make_shared<s2s_incoming_stream>(std::move(c.server_side), direct_tls, ctx, *federation,
                                                            std::move(c.slot));
        stream->start();
        return add_peer(std::move(c.peer_side), direct_tls, ns::server, peer_tls);
    }

    // A client over direct TLS, authenticated with PLAIN as `user` and bound to `resource`. Returns its full JID.
    std::string login(test_peer& peer, std::string_view user, std::string_view resource) {
        peer.open_stream();
        peer.features();
        REQUIRE(peer.write(plain_auth(user, password)));
        peer.expect("success", ns::sasl);
        peer.open_stream();
        const stanza features = peer.features();
        REQUIRE(has_child(features, "bind", ns::bind));
        REQUIRE(peer.write("<iq type='set' id='bind-1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>" +
                           std::string(resource) + "</resource></bind></iq>"));
        const stanza result = peer.expect("iq");
        REQUIRE(result.type() == "result");
        REQUIRE(result.id() == "bind-1");
        return result.child("bind", ns::bind).child("jid").text().get();
    }

    // A bound client in one call.
    test_peer& bound_client(std::string_view user, std::string_view resource) {
        test_peer& peer = connect_c2s(true);
        const std::string full = login(peer, user, resource);
        REQUIRE(full == std::string(user) + "@" + std::string(domain) + "/" + std::string(resource));
        return peer;
    }

    bool bound(std::string_view full) const { return registry.find(router_testing::parse_jid(full)) != nullptr; }

    bool run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout = 10s) {
        return session_testing::run_until(io, done, timeout);
    }

    log_level_guard quiet{spdlog::level::warn};
    test::temp_dir dir;
    config cfg = make_config(dir);
    storage::async_store store{cfg.storage};
    certificate_files cert = ensure_self_signed(dir.path() / "tls", cfg.hosts);
    tls_context_provider tls{cert.certificate, cert.key, "1.2"};
    session_registry registry;
    storage_account_directory directory{store};
    server_handlers handlers{"test-version", {}};
    router_testing::policy_log log;
    antispim::chain chain{router_testing::one_policy(antispim::verdict::pass(), &log)};
    pubsub_engine pubsub{store, cfg.pubsub, cfg.hosts, {}, registry, nullptr};
    router routes{cfg.hosts, registry, directory, chain, handlers, router_links{.pubsub = &pubsub}};
    auth_throttle throttle{100};  // no answer delays: the per-connection failure limit is what the tests see
    connection_tracker connections{64};
    server_context ctx{cfg, registry, routes, store, tls, throttle, connections, "server-secret", "", nullptr, nullptr};
    // After everything a session refers to: destroyed first, with any coroutine frame still in it.
    asio::io_context io;
    asio::executor_work_guard<asio::io_context::executor_type> keep_running = asio::make_work_guard(io);
    std::unique_ptr<s2s_manager> federation;  // made on first use, after a test has set cfg.s2s
    tcp::acceptor acceptor{io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
    ssl::context client_tls{ssl::context::tls_client};
    std::vector<std::weak_ptr<c2s_session>> c2s_sessions;
    std::vector<std::unique_ptr<test_peer>> peers;

private:
    struct connection {
        tcp::socket peer_side;
        tcp::socket server_side;
        std::shared_ptr<void> slot;  // from the connection tracker, as the listener gets it
    };

    connection accept() {
        tcp::socket peer_side(io);
        peer_side.connect(acceptor.local_endpoint());  // the kernel completes it: the backlog has room
        tcp::socket server_side = acceptor.accept();
        auto slot = connections.admit("127.0.0.1");
        REQUIRE(slot);
        return {std::move(peer_side), std::move(server_side), std::move(slot)};
    }

    test_peer& add_peer(tcp::socket socket, bool direct_tls, std::string_view content_ns, ssl::context& peer_tls) {
        peers.push_back(std::make_unique<test_peer>(io, std::move(socket), content_ns));
        test_peer& peer = *peers.back();
        if (direct_tls) {
            REQUIRE(peer.start_tls(peer_tls));
        } else {
            peer.start_plain();
        }
        return peer;
    }
};

}  // namespace hush::session_testing

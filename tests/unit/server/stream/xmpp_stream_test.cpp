// What supervision does for a stream whose coroutine throws: the peer gets <internal-server-error/> and the end of
// the stream, the stream goes down its usual way (on_close_begun, on_disconnected, once each) and is freed.
#include <doctest.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "server/stream/xmpp_stream.hpp"

using namespace hush;
namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

struct counters {
    int elements = 0;
    int close_begun = 0;
    int disconnected = 0;
};

// A stream with nothing to negotiate, whose failures the test picks.
class test_stream final : public xmpp_stream {
public:
    test_stream(tcp::socket socket, const limits_config& limits, counters& seen, bool fail_in_watchdog)
        : xmpp_stream(std::move(socket), limits, "jabber:client"), seen_(seen), fail_in_watchdog_(fail_in_watchdog) {}

private:
    asio::awaitable<bool> on_connected() override { co_return true; }
    void handle_stream_open(const xml::stream_open& /*header*/) override {
        send("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
             "xmlns:stream='http://etherx.jabber.org/streams' id='1' from='localhost' version='1.0'>");
        mark_header_sent();
    }
    asio::awaitable<void> handle_element(stanza s) override {
        ++seen_.elements;
        if (s.name() == "boom") {
            throw std::runtime_error("a bug in stanza handling");
        }
        co_return;
    }
    bool negotiated() const override { return true; }
    void on_close_begun() override { ++seen_.close_begun; }
    asio::awaitable<void> on_disconnected() override {
        ++seen_.disconnected;
        co_return;
    }
    std::string log_name() const override { return "test stream"; }
    std::chrono::seconds idle_timeout() const override {
        if (fail_in_watchdog_) {
            throw std::runtime_error("a bug in the watchdog");
        }
        return xmpp_stream::idle_timeout();
    }

    counters& seen_;
    bool fail_in_watchdog_;
};

// A test_stream on one end of a local TCP connection; the test is the peer on the other end.
struct harness {
    counters seen;  // outlives the stream, which may be freed with the io_context
    limits_config limits;
    asio::io_context io;
    tcp::acceptor acceptor{io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
    tcp::socket peer{io};
    std::weak_ptr<test_stream> stream;
    bool closed = false;  // the server closed the connection (the peer read EOF)

    // Starts the stream; only its own coroutines keep it alive from then on, as in the server.
    explicit harness(bool fail_in_watchdog = false) {
        peer.connect(acceptor.local_endpoint());
        auto s = std::make_shared<test_stream>(acceptor.accept(), limits, seen, fail_in_watchdog);
        s->start();
        stream = s;
    }

    // Sends `input`, then reads until the server closes the connection; gives up after 10 s (a stream that
    // lingers, say).
    std::string exchange(const std::string& input) {
        std::string received;
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
                if (!input.empty()) {
                    co_await asio::async_write(peer, asio::buffer(input), asio::as_tuple(asio::use_awaitable));
                }
                auto [ec, n] = co_await asio::async_read(peer, asio::dynamic_buffer(received),
                                                         asio::as_tuple(asio::use_awaitable));
                closed = ec == asio::error::eof;
            },
            asio::detached);
        io.run_for(std::chrono::seconds(10));
        return received;
    }
};

const std::string header =
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
    "to='localhost' version='1.0'>";
const std::string internal_error = "<internal-server-error xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>";

}  // namespace

TEST_CASE("a reader that throws: <internal-server-error/>, the usual teardown, the stream freed") {
    harness h;
    const auto received = h.exchange(header + "<ping/><boom/><never-read/>");

    CHECK(h.closed);
    CHECK(received.find(internal_error) != std::string::npos);
    CHECK(received.ends_with("</stream:stream>"));
    CHECK(h.seen.elements == 2);  // <boom/> ended the reader: <never-read/> was not handled
    CHECK(h.seen.close_begun == 1);
    CHECK(h.seen.disconnected == 1);
    CHECK(h.stream.expired());  // nothing left holding it: no coroutine of its lingers
}

TEST_CASE("a watchdog that throws: <internal-server-error/>, the usual teardown, the stream freed") {
    harness h(true);
    const auto received = h.exchange("");

    CHECK(h.closed);
    CHECK(received.find(internal_error) != std::string::npos);
    CHECK(received.ends_with("</stream:stream>"));
    CHECK(h.seen.close_begun == 1);
    CHECK(h.seen.disconnected == 1);
    CHECK(h.stream.expired());
}

TEST_CASE("a stream that ends cleanly goes down the same way") {
    harness h;
    const auto received = h.exchange(header + "<ping/></stream:stream>");

    CHECK(h.closed);
    CHECK(received.find("stream:error") == std::string::npos);
    CHECK(h.seen.elements == 1);
    CHECK(h.seen.close_begun == 1);
    CHECK(h.seen.disconnected == 1);
    CHECK(h.stream.expired());
}

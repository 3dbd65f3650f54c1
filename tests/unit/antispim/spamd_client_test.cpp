// The spamd client against a stand-in spamd on a loopback socket: the request it sends, the answer it reads, and
// each way a check fails (refused, silent, busy). The real spamd is in tests/integration/test_content.py.
#include <doctest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>

#include "antispim/spamd_client.hpp"

using namespace hush;
using namespace hush::antispim;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

// Accepts one connection, reads the request (up to the blank line and Content-length bytes) and answers `answer`,
// or, when `answer` is empty, holds the connection open without a word.
asio::awaitable<void> stand_in(tcp::acceptor& acceptor, std::string answer, std::string& request) {
    auto [aec, socket] = co_await acceptor.async_accept(tuple_awaitable);
    if (aec) {
        co_return;
    }
    [[maybe_unused]] auto [rec, n] = co_await asio::async_read_until(socket, asio::dynamic_buffer(request), "\r\n\r\n", tuple_awaitable);
    if (answer.empty()) {
        asio::steady_timer hold(socket.get_executor(), 10s);
        co_await hold.async_wait(tuple_awaitable);
        co_return;
    }
    co_await asio::async_write(socket, asio::buffer(answer), tuple_awaitable);
    socket.close();
}

}  // namespace

TEST_CASE("a check sends SYMBOLS with the mail and reads spamd's verdict") {
    asio::io_context io;
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    const auto port = acceptor.local_endpoint().port();
    std::string request;
    asio::co_spawn(io, stand_in(acceptor, "SPAMD/1.1 0 EX_OK\r\nContent-length: 5\r\nSpam: True ; 1000.0 / 5.0\r\n\r\nGTUBE",
                                request),
                   asio::detached);
    spamd_client client("127.0.0.1:" + std::to_string(port), 2000ms, 2);
    auto fut = asio::co_spawn(io, client.check(spamd_mail("a@x.test", "b@y.test", "hi", 0, "1@y.test")), asio::use_future);
    io.run();
    const auto got = fut.get();
    REQUIRE(got);
    CHECK(got->spam);
    CHECK(got->score == doctest::Approx(1000.0));
    CHECK(got->symbols == std::vector<std::string>{"GTUBE"});
    CHECK(request.starts_with("SYMBOLS SPAMC/1.5\r\nContent-length: "));
    CHECK(client.in_flight() == 0);
}

TEST_CASE("a refused connection, a silent spamd and a full pool each fail the check, saying why") {
    asio::io_context io;
    // Refused: a port nobody listens on (bound, then closed).
    std::uint16_t closed_port = 0;
    {
        tcp::acceptor probe(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        closed_port = probe.local_endpoint().port();
    }
    spamd_client refused("127.0.0.1:" + std::to_string(closed_port), 2000ms, 2);
    auto f1 = asio::co_spawn(io, refused.check("x"), asio::use_future);

    // Silent: it accepts and never answers; the deadline ends the check.
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    std::string request;
    asio::co_spawn(io, stand_in(acceptor, "", request), asio::detached);
    spamd_client silent("127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()), 200ms, 1);
    auto f2 = asio::co_spawn(io, silent.check("x"), asio::use_future);
    // Busy: the one connection is taken by the check above.
    auto f3 = asio::co_spawn(io, silent.check("y"), asio::use_future);
    // Until all three are done (the silent stand-in would hold its connection for 10 s more).
    const auto ready = [](auto& f) { return f.wait_for(0s) == std::future_status::ready; };
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!(ready(f1) && ready(f2) && ready(f3)) && std::chrono::steady_clock::now() < deadline) {
        io.run_one_for(100ms);
    }
    const auto r1 = f1.get();
    REQUIRE_FALSE(r1);
    CHECK(r1.error().starts_with("cannot connect to spamd at 127.0.0.1:"));
    const auto r2 = f2.get();
    REQUIRE_FALSE(r2);
    CHECK(r2.error().find("did not answer in time") != std::string::npos);
    const auto r3 = f3.get();
    REQUIRE_FALSE(r3);
    CHECK(r3.error() == "spamd busy: 1 checks already in flight");
    CHECK(silent.in_flight() == 0);
}

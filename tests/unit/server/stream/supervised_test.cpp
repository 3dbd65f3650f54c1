#include <doctest.h>

#include <chrono>
#include <stdexcept>
#include <string>

#include <boost/asio/io_context.hpp>

#include "server/stream/supervised.hpp"

using namespace hush;
namespace asio = boost::asio;

namespace {

asio::awaitable<void> throws(std::string why) {
    throw std::runtime_error(why);
    co_return;
}

asio::awaitable<void> returns() { co_return; }

}  // namespace

TEST_CASE("spawn_supervised: a failure runs the failure action, once, and does not escape the event loop") {
    asio::io_context io;
    int failures = 0;
    int described = 0;
    spawn_supervised(
        io.get_executor(),
        [&described] {
            ++described;
            return std::string("the test coroutine");
        },
        throws("deliberate"), [&failures] { ++failures; });
    CHECK_NOTHROW(io.run());
    CHECK(failures == 1);
    CHECK(described == 1);  // asked for when logging the failure
}

TEST_CASE("spawn_supervised: a coroutine that returns runs no failure action") {
    asio::io_context io;
    int failures = 0;
    int described = 0;
    spawn_supervised(
        io.get_executor(),
        [&described] {
            ++described;
            return std::string("the test coroutine");
        },
        returns(), [&failures] { ++failures; });
    io.run();
    CHECK(failures == 0);
    CHECK(described == 0);
}

TEST_CASE("spawn_supervised: a failure action that throws is contained too") {
    asio::io_context io;
    spawn_supervised(io.get_executor(), "the test coroutine", throws("first"),
                     [] { throw std::runtime_error("second"); });
    CHECK_NOTHROW(io.run());
}

TEST_CASE("spawn_supervised: a callable task, and no failure action") {
    asio::io_context io;
    int started = 0;
    spawn_supervised(io.get_executor(), "the test coroutine", [&started] {
        ++started;
        return throws("deliberate");
    });
    CHECK_NOTHROW(io.run());
    CHECK(started == 1);
}

TEST_CASE("spawn_supervised_loop: a failing loop starts again until it returns") {
    asio::io_context io;
    int runs = 0;
    spawn_supervised_loop(
        io.get_executor(), "the test loop",
        [&runs]() -> asio::awaitable<void> {
            if (++runs < 3) {
                throw std::runtime_error("deliberate");
            }
            co_return;
        },
        [] { return true; }, std::chrono::milliseconds(1));
    CHECK_NOTHROW(io.run());
    CHECK(runs == 3);
}

TEST_CASE("spawn_supervised_loop: no restart once keep_going says stop") {
    asio::io_context io;
    int runs = 0;
    bool stopping = false;
    spawn_supervised_loop(
        io.get_executor(), "the test loop",
        [&]() -> asio::awaitable<void> {
            ++runs;
            stopping = true;  // the server began shutting down while this ran
            throw std::runtime_error("deliberate");
            co_return;
        },
        [&stopping] { return !stopping; }, std::chrono::milliseconds(1));
    CHECK_NOTHROW(io.run());
    CHECK(runs == 1);
}

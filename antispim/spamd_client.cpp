#include "antispim/spamd_client.hpp"

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>

namespace hush::antispim {

namespace asio = boost::asio;
namespace beast = boost::beast;

namespace {

constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

// "host:port" or "[v6]:port"; validated by the config loader, so a bad one only fails its checks.
std::pair<std::string, std::string> split_address(const std::string& address) {
    if (!address.empty() && address.front() == '[') {
        const auto close = address.find(']');
        if (close != std::string::npos && close + 1 < address.size() && address[close + 1] == ':') {
            return {address.substr(1, close - 1), address.substr(close + 2)};
        }
        return {address, ""};
    }
    const auto colon = address.rfind(':');
    if (colon == std::string::npos) {
        return {address, ""};
    }
    return {address.substr(0, colon), address.substr(colon + 1)};
}

// Frees the connection slot however the check ends.
struct slot_guard {
    std::atomic<std::size_t>& count;
    ~slot_guard() { count.fetch_sub(1, std::memory_order_relaxed); }
};

}  // namespace

spamd_client::spamd_client(std::string address, std::chrono::milliseconds timeout, std::size_t max_connections)
    : address_(std::move(address)), timeout_(timeout), max_connections_(max_connections == 0 ? 1 : max_connections) {
    std::tie(host_, port_) = split_address(address_);
}

asio::awaitable<hush::expected<spamd_verdict, std::string>> spamd_client::check(std::string mail) {
    using result = hush::expected<spamd_verdict, std::string>;
    if (in_flight_.fetch_add(1, std::memory_order_relaxed) >= max_connections_) {
        in_flight_.fetch_sub(1, std::memory_order_relaxed);
        co_return hush::unexpected<std::string>("spamd busy: " + std::to_string(max_connections_) +
                                                " checks already in flight");
    }
    slot_guard guard{in_flight_};
    const auto executor = co_await asio::this_coro::executor;
    beast::tcp_stream stream(executor);
    stream.expires_after(timeout_);  // one deadline for the whole exchange
    asio::ip::tcp::resolver resolver(executor);
    auto [rec, endpoints] = co_await resolver.async_resolve(host_, port_, asio::ip::resolver_base::numeric_service,
                                                            tuple_awaitable);
    if (rec) {
        co_return hush::unexpected<std::string>("cannot resolve spamd at " + address_ + ": " + rec.message());
    }
    auto [cec, endpoint] = co_await stream.async_connect(endpoints, tuple_awaitable);
    if (cec) {
        co_return hush::unexpected<std::string>(cec == beast::error::timeout
                                                    ? "spamd at " + address_ + " did not accept in time"
                                                    : "cannot connect to spamd at " + address_ + ": " + cec.message());
    }
    const std::string request = spamd_request(mail);
    auto [wec, written] = co_await asio::async_write(stream, asio::buffer(request), tuple_awaitable);
    if (wec) {
        co_return hush::unexpected<std::string>("cannot send to spamd at " + address_ + ": " + wec.message());
    }
    // spamc half-closes after the request; spamd reads Content-length bytes, answers and closes.
    boost::system::error_code ignored;
    stream.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
    std::string answer;
    auto buffer = asio::dynamic_buffer(answer, max_answer_bytes);
    for (;;) {
        // Never more than the limit leaves room for (prepare() would throw past it).
        const std::size_t room = std::min<std::size_t>(4096, max_answer_bytes - answer.size());
        auto [rec2, n] = co_await stream.async_read_some(buffer.prepare(room), tuple_awaitable);
        buffer.commit(n);
        if (rec2 == asio::error::eof) {
            break;
        }
        if (rec2) {
            co_return hush::unexpected<std::string>(rec2 == beast::error::timeout
                                                        ? "spamd at " + address_ + " did not answer in time"
                                                        : "reading spamd's answer failed: " + rec2.message());
        }
        if (answer.size() >= max_answer_bytes) {
            co_return hush::unexpected<std::string>("spamd's answer is over 64 KiB");
        }
    }
    auto parsed = parse_spamd_answer(answer);
    if (!parsed) {
        co_return hush::unexpected<std::string>(parsed.error());
    }
    co_return result(std::move(*parsed));
}

}  // namespace hush::antispim

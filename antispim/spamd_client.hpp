#pragma once
// An asynchronous client for SpamAssassin's spamd (Debian's `spamassassin` package), for the content policy. spamd
// answers one request per connection and then closes it, so the "pool" is a cap on connections at once: a check
// beyond it is not made (the caller applies its fail mode) rather than queued behind a slow spamd. Each check has
// one deadline for connecting, sending and reading the answer (at most 64 KiB).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "antispim/spamd_protocol.hpp"
#include "protocol/expected.hpp"

namespace hush::antispim {

class spamd_client {
public:
    // `address`: "host:port" ("127.0.0.1:783", "[::1]:783"). `max_connections` at least 1.
    spamd_client(std::string address, std::chrono::milliseconds timeout, std::size_t max_connections);

    // Scores `mail` (see spamd_mail). The error says what failed: connection, timeout, busy, spamd's own error.
    boost::asio::awaitable<hush::expected<spamd_verdict, std::string>> check(std::string mail);

    const std::string& address() const { return address_; }
    std::size_t in_flight() const { return in_flight_.load(std::memory_order_relaxed); }

    static constexpr std::size_t max_answer_bytes = 64 * 1024;

private:
    std::string address_;
    std::string host_;
    std::string port_;
    std::chrono::milliseconds timeout_;
    std::size_t max_connections_;
    std::atomic<std::size_t> in_flight_{0};
};

}  // namespace hush::antispim

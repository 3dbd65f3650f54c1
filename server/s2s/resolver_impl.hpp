#pragma once
// Internal to the resolver (server/s2s/resolver.cpp, server/s2s/dns_channel.cpp): resolver::impl, one c-ares
// channel driven by the resolver's executor, and the batches of queries its resolve() awaits.
#include <ares.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "server/s2s/resolver.hpp"

namespace hush::resolver_detail {

using clock_type = std::chrono::steady_clock;

inline std::string lower_ascii(std::string_view text) {
    std::string out(text);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return out;
}

// One c-ares query's result.
struct lookup_outcome {
    bool finished = false;
    int status = ARES_ETIMEOUT;
    std::vector<srv_record> records;
    std::vector<boost::asio::ip::address> addresses;
};

enum class batch_end { completed, timed_out, cancelled };

struct batch_result {
    batch_end end = batch_end::completed;
    std::vector<lookup_outcome> outcomes;
};

struct query_spec {
    bool srv = false;  // SRV query, else A/AAAA
    std::string name;
};

}  // namespace hush::resolver_detail

namespace hush {

class resolver::impl : public std::enable_shared_from_this<impl> {
public:
    impl(boost::asio::any_io_executor executor, resolver_options options);

    ~impl() { shutdown(); }
    impl(const impl&) = delete;
    impl& operator=(const impl&) = delete;

    const resolver_options& options() const { return options_; }

    // Fails every outstanding query (their batches end as cancelled) and lets go of c-ares' sockets.
    void shutdown();

    static boost::asio::awaitable<resolve_result> resolve(std::shared_ptr<impl> self, std::string domain);

private:
    using clock_type = resolver_detail::clock_type;

    // One c-ares socket as Asio sees it. The descriptor never owns the fd: c-ares opens and closes it.
    struct socket_watch {
        socket_watch(const boost::asio::any_io_executor& ex, ares_socket_t socket) : descriptor(ex), fd(socket) {}
        boost::asio::posix::stream_descriptor descriptor;
        ares_socket_t fd;
        bool want_read = false;
        bool want_write = false;
        bool reading = false;  // an async_wait is outstanding
        bool writing = false;
        bool gone = false;  // released: the fd number may already belong to another socket
    };

    static void on_socket_state(void* data, ares_socket_t fd, int readable, int writable);
    void update_socket(ares_socket_t fd, bool readable, bool writable);
    static void forget(socket_watch& watch);
    void arm(const std::shared_ptr<socket_watch>& watch);
    void wait(const std::shared_ptr<socket_watch>& watch, boost::asio::posix::stream_descriptor::wait_type type);
    // c-ares' own retry clock; re-armed after every event since any of them can change the next expiry.
    void schedule_timeouts();
    template <class Handler>
    void start_batch(Handler handler, const std::vector<resolver_detail::query_spec>& queries,
                     clock_type::time_point deadline);
    boost::asio::awaitable<resolver_detail::batch_result> run(std::vector<resolver_detail::query_spec> queries,
                                                              clock_type::time_point deadline);

    boost::asio::any_io_executor executor_;
    resolver_options options_;
    std::mt19937 rng_;
    ares_channel channel_ = nullptr;
    boost::asio::steady_timer timer_;
    std::unordered_map<ares_socket_t, std::shared_ptr<socket_watch>> sockets_;
};

}  // namespace hush

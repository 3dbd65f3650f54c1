#pragma once
// Every open client connection: counts per IP address (to enforce max_connections_per_ip) and weak references
// so shutdown can close them all, even those that never bound a resource.
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include <boost/asio/ip/address.hpp>

#include "server/stream/session.hpp"

namespace hush {

// How a peer's address is named in limits, logs and [http] trusted_proxies: an IPv4 client of a dual-stack listener
// (::ffff:192.0.2.1) as the IPv4 address it is.
std::string address_text(const boost::asio::ip::address& address);

class connection_tracker {
public:
    explicit connection_tracker(std::size_t max_per_ip) : max_per_ip_(max_per_ip) {}

    // A slot for one connection from `address`; releasing it (destroying the returned handle) forgets it.
    // nullptr when the address is at its limit.
    std::shared_ptr<void> admit(const std::string& address);
    // Registers the session for shutdown; `slot` is the handle admit() returned.
    void attach(const std::shared_ptr<void>& slot, std::weak_ptr<session> s);

    std::vector<std::shared_ptr<session>> all() const;
    std::size_t size() const;
    // Called (from the releasing thread) whenever the count drops to zero.
    void on_empty(std::function<void()> callback);

private:
    struct slot;
    void release(slot* s);

    std::size_t max_per_ip_;
    mutable std::mutex mutex_;
    std::unordered_map<std::string, std::size_t> per_ip_;
    std::unordered_map<slot*, std::weak_ptr<session>> sessions_;
    std::size_t total_ = 0;
    std::function<void()> on_empty_;
};

}  // namespace hush

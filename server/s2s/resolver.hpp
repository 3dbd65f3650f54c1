#pragma once
// Where to connect for a remote XMPP domain (RFC 6120 §3.2, XEP-0368): a static table from the configuration,
// else the _xmpps-server and _xmpp-server SRV records merged and ordered per RFC 2782, else DOMAIN:5269; then
// every candidate host is resolved to its A/AAAA addresses.
//
// DNS goes through one c-ares channel per resolver, driven by the resolver's executor: c-ares' sockets are
// watched with Asio and its retry clock is an Asio timer, so no query blocks the event loop or takes a thread.
// A resolver belongs to one io_context thread (or strand): construct it, call resolve() and destroy it there.
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "server/config/endpoint_spec.hpp"

namespace hush {

enum class resolve_errc {
    not_available = 1,  // an SRV target "." : the domain decidedly offers no server-to-server service
    timeout,            // the overall deadline passed first
    not_found,          // no candidate host has an address
    lookup_failed,      // a DNS error other than "no such record" (SERVFAIL, refused, ...): worth retrying later
    cancelled,          // the operation was cancelled or the resolver destroyed
};

const std::error_category& resolve_category() noexcept;
std::error_code make_error_code(resolve_errc e) noexcept;

}  // namespace hush

template <>
struct std::is_error_code_enum<hush::resolve_errc> : std::true_type {};

namespace hush {

struct srv_record {
    std::string target;
    std::uint16_t port = 0;
    std::uint16_t priority = 0;
    std::uint16_t weight = 0;
    bool direct_tls = false;  // came from _xmpps-server

    bool operator==(const srv_record&) const = default;
};

// The root name: as a lone SRV target it means "service decidedly not available" (RFC 2782).
bool is_root_target(std::string_view target) noexcept;

// RFC 2782 order: lowest priority first; within one priority a weighted random draw, zero weights placed first
// so they are only picked when the draw lands on 0. Root targets are dropped (they are no place to connect to).
std::vector<srv_record> order_srv(std::vector<srv_record> records, std::mt19937& rng);

// One SRV lookup's outcome, as the merge below sees it.
enum class srv_status {
    found,      // records (possibly only a root target)
    none,       // NXDOMAIN or no SRV record: definitely absent
    failed,     // SERVFAIL, refused, unparsable, ...
    timed_out,  // the DNS servers did not answer
};

struct srv_lookup {
    srv_status status = srv_status::none;
    std::vector<srv_record> records;
};

enum class resolve_source {
    srv,           // DNS SRV records (also used for errors found while looking them up)
    fallback,      // no SRV record at all: DOMAIN:5269 with STARTTLS
    static_table,  // the configuration's [s2s.hosts]
};

struct target_plan {
    std::error_code error;
    resolve_source source = resolve_source::srv;
    std::vector<endpoint_spec> targets;  // in connection order
};

// Merges both services' lookups (XEP-0368: priorities and weights mixed as one record set). A root target in
// either service with no usable record anywhere means "not available", without A/AAAA fallback; only when neither
// service has any record does DOMAIN:5269 follow. A failed lookup with nothing usable is an error, not a fallback:
// an unanswered query says nothing about whether records exist.
target_plan plan_targets(std::string_view domain, const srv_lookup& xmpps, const srv_lookup& xmpp,
                         std::mt19937& rng);

struct resolved_target {
    std::string host;
    std::uint16_t port = 0;
    bool direct_tls = false;
    std::vector<boost::asio::ip::tcp::endpoint> endpoints;  // in c-ares' (RFC 6724) preference order
};

struct resolve_result {
    std::error_code error;  // resolve_errc; empty when targets has at least one entry
    resolve_source source = resolve_source::srv;
    // Try in this order. Hosts without any address are left out, and so are those still unanswered when the
    // deadline passes, as long as some other host has addresses by then.
    std::vector<resolved_target> targets;
};

struct resolver_options {
    // Domain → where to connect, replacing the SRV step for that domain (names in it still get A/AAAA lookups;
    // IP literals need no DNS). Keys are compared case-insensitively.
    std::map<std::string, std::vector<endpoint_spec>> static_hosts;
    // For the whole of one resolve(): SRV lookups and address lookups together.
    std::chrono::milliseconds deadline{10'000};
    // c-ares' "ip:port,..." server list (ares_set_servers_ports_csv); empty: the system's resolv.conf.
    std::string servers;
    // Per-try timeout and tries before c-ares gives up on a query (it doubles the timeout on each round).
    std::chrono::milliseconds attempt_timeout{2'000};
    int attempts = 3;
    // Seed for the RFC 2782 weighted draws; 0 takes one from std::random_device.
    std::uint32_t seed = 0;
};

class resolver {
public:
    // Throws std::runtime_error at start-up if c-ares cannot be set up or options.servers is malformed.
    resolver(boost::asio::any_io_executor executor, resolver_options options);
    // Outstanding resolve() calls complete with resolve_errc::cancelled.
    ~resolver();
    resolver(const resolver&) = delete;
    resolver& operator=(const resolver&) = delete;

    // Never throws on DNS trouble: errors come back in the result. Honours per-operation cancellation.
    boost::asio::awaitable<resolve_result> resolve(std::string domain);

    const resolver_options& options() const;

private:
    class impl;
    std::shared_ptr<impl> impl_;
};

}  // namespace hush

#include "server/s2s/resolver.hpp"

#include <ares.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <iterator>
#include <stdexcept>
#include <unordered_map>
#include <utility>

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/cancellation_state.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace hush {

namespace {

namespace asio = boost::asio;
using clock_type = std::chrono::steady_clock;

class resolve_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "hush.resolve"; }

    std::string message(int value) const override {
        switch (static_cast<resolve_errc>(value)) {
            case resolve_errc::not_available:
                return "the domain offers no server-to-server service (SRV target \".\")";
            case resolve_errc::timeout:
                return "DNS resolution timed out";
            case resolve_errc::not_found:
                return "no address found for any candidate host";
            case resolve_errc::lookup_failed:
                return "DNS lookup failed";
            case resolve_errc::cancelled:
                return "DNS resolution cancelled";
        }
        return "unknown resolve error";
    }
};

std::string lower_ascii(std::string_view text) {
    std::string out(text);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return out;
}

constexpr int dns_class_in = 1;
constexpr int dns_type_srv = 33;

}  // namespace

const std::error_category& resolve_category() noexcept {
    static const resolve_category_impl category;
    return category;
}

std::error_code make_error_code(resolve_errc e) noexcept {
    return {static_cast<int>(e), resolve_category()};
}

bool is_root_target(std::string_view target) noexcept {
    return target.empty() || target == ".";
}

std::vector<srv_record> order_srv(std::vector<srv_record> records, std::mt19937& rng) {
    std::erase_if(records, [](const srv_record& r) { return is_root_target(r.target); });
    std::stable_sort(records.begin(), records.end(),
                     [](const srv_record& a, const srv_record& b) { return a.priority < b.priority; });

    std::vector<srv_record> out;
    out.reserve(records.size());
    auto group_begin = records.begin();
    while (group_begin != records.end()) {
        const auto priority = group_begin->priority;
        const auto group_end = std::find_if(group_begin, records.end(),
                                            [priority](const srv_record& r) { return r.priority != priority; });
        std::vector<srv_record> pool(std::make_move_iterator(group_begin), std::make_move_iterator(group_end));
        // RFC 2782: zero weights go first, so a draw of 0 can still pick them while any weight is left.
        std::stable_partition(pool.begin(), pool.end(), [](const srv_record& r) { return r.weight == 0; });
        while (!pool.empty()) {
            std::uint64_t total = 0;
            for (const auto& r : pool) {
                total += r.weight;
            }
            std::uniform_int_distribution<std::uint64_t> draw(0, total);
            const std::uint64_t pick = draw(rng);
            std::uint64_t running = 0;
            auto chosen = pool.begin();
            for (auto it = pool.begin(); it != pool.end(); ++it) {
                running += it->weight;
                if (running >= pick) {
                    chosen = it;
                    break;
                }
            }
            out.push_back(std::move(*chosen));
            pool.erase(chosen);
        }
        group_begin = group_end;
    }
    return out;
}

target_plan plan_targets(std::string_view domain, const srv_lookup& xmpps, const srv_lookup& xmpp,
                         std::mt19937& rng) {
    target_plan plan;
    std::vector<srv_record> usable;
    bool root_seen = false;
    const auto collect = [&](const srv_lookup& lookup, bool direct_tls) {
        if (lookup.status != srv_status::found) {
            return;
        }
        for (const auto& r : lookup.records) {
            if (is_root_target(r.target)) {
                root_seen = true;
            } else {
                usable.push_back(r);
                usable.back().direct_tls = direct_tls;  // the service decides, not the caller's flag
            }
        }
    };
    collect(xmpps, true);
    collect(xmpp, false);

    if (!usable.empty()) {
        for (auto& r : order_srv(std::move(usable), rng)) {
            endpoint_spec target;
            target.host = std::move(r.target);
            target.port = r.port;
            target.direct_tls = r.direct_tls;
            plan.targets.push_back(std::move(target));
        }
        return plan;
    }
    // Nothing usable. An unanswered lookup might have held records, so it outranks both "." and the fallback.
    if (xmpps.status == srv_status::timed_out || xmpp.status == srv_status::timed_out) {
        plan.error = resolve_errc::timeout;
        return plan;
    }
    if (xmpps.status == srv_status::failed || xmpp.status == srv_status::failed) {
        plan.error = resolve_errc::lookup_failed;
        return plan;
    }
    if (root_seen) {
        plan.error = resolve_errc::not_available;
        return plan;
    }
    plan.source = resolve_source::fallback;
    endpoint_spec fallback;
    fallback.host = std::string(domain);
    plan.targets.push_back(std::move(fallback));
    return plan;
}

// ---------------------------------------------------------------------------------------------------------------
// c-ares on Asio.

namespace {

// One c-ares query's result.
struct lookup_outcome {
    bool finished = false;
    int status = ARES_ETIMEOUT;
    std::vector<srv_record> records;
    std::vector<asio::ip::address> addresses;
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

// Queries issued together and awaited as one operation, finished by the last answer, the deadline or a
// cancellation, whichever comes first. c-ares callbacks, the deadline timer and the cancellation slot each hold
// a reference, so answers arriving after the end find it alive and simply drop.
class batch {
public:
    batch(const asio::any_io_executor& ex, std::size_t queries) : timer_(ex), outcomes_(queries), open_(queries) {}
    virtual ~batch() = default;
    batch(const batch&) = delete;
    batch& operator=(const batch&) = delete;

    bool done() const { return done_; }
    asio::steady_timer& timer() { return timer_; }

    void record(std::size_t index, lookup_outcome outcome) {
        if (done_) {
            return;
        }
        outcome.finished = true;
        outcomes_[index] = std::move(outcome);
        if (--open_ == 0) {
            finish(batch_end::completed);
        }
    }

    void finish(batch_end end, bool from_cancellation_slot = false) {
        if (done_) {
            return;
        }
        done_ = true;
        timer_.cancel();
        batch_result result;
        result.end = end;
        result.outcomes = std::move(outcomes_);
        deliver(std::move(result), from_cancellation_slot);
    }

protected:
    virtual void deliver(batch_result result, bool from_cancellation_slot) = 0;

private:
    asio::steady_timer timer_;
    std::vector<lookup_outcome> outcomes_;
    std::size_t open_;
    bool done_ = false;
};

template <class Handler>
class batch_for final : public batch {
public:
    batch_for(const asio::any_io_executor& ex, std::size_t queries, Handler handler)
        : batch(ex, queries),
          handler_(std::move(handler)),
          work_(asio::make_work_guard(asio::get_associated_executor(handler_, ex))) {}

    asio::associated_cancellation_slot_t<Handler> slot() { return asio::get_associated_cancellation_slot(handler_); }

private:
    void deliver(batch_result result, bool from_cancellation_slot) override {
        auto slot = asio::get_associated_cancellation_slot(handler_);
        // Inside the slot's own handler clearing it would destroy the running function.
        if (!from_cancellation_slot && slot.is_connected()) {
            slot.clear();
        }
        auto executor = work_.get_executor();
        // Always posted: the caller is c-ares (inside ares_process_fd) or an initiation, never a place to resume
        // a coroutine that may start new queries or destroy the resolver.
        auto complete = [handler = std::move(handler_), result = std::move(result), work = std::move(work_)]() mutable {
            std::move(handler)(std::move(result));
        };
        asio::post(executor, std::move(complete));
    }

    Handler handler_;
    asio::executor_work_guard<asio::associated_executor_t<Handler, asio::any_io_executor>> work_;
};

struct query_context {
    std::shared_ptr<batch> owner;
    std::size_t index = 0;
};

void on_srv_answer(void* arg, int status, int /*timeouts*/, unsigned char* answer, int length) {
    const std::unique_ptr<query_context> context(static_cast<query_context*>(arg));
    if (context->owner->done()) {
        return;
    }
    if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED) {
        context->owner->finish(batch_end::cancelled);
        return;
    }
    lookup_outcome outcome;
    outcome.status = status;
    if (status == ARES_SUCCESS) {
        ares_srv_reply* reply = nullptr;
        outcome.status = ares_parse_srv_reply(answer, length, &reply);
        for (const ares_srv_reply* r = reply; r != nullptr; r = r->next) {
            srv_record record;
            record.target = r->host != nullptr ? r->host : "";
            record.port = r->port;
            record.priority = r->priority;
            record.weight = r->weight;
            outcome.records.push_back(std::move(record));
        }
        if (reply != nullptr) {
            ares_free_data(reply);
        }
    }
    context->owner->record(context->index, std::move(outcome));
}

void on_address_answer(void* arg, int status, int /*timeouts*/, ares_addrinfo* info) {
    const std::unique_ptr<query_context> context(static_cast<query_context*>(arg));
    const std::unique_ptr<ares_addrinfo, decltype(&ares_freeaddrinfo)> owned(info, &ares_freeaddrinfo);
    if (context->owner->done()) {
        return;
    }
    if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED) {
        context->owner->finish(batch_end::cancelled);
        return;
    }
    lookup_outcome outcome;
    outcome.status = status;
    for (const ares_addrinfo_node* node = info != nullptr ? info->nodes : nullptr; node != nullptr;
         node = node->ai_next) {
        asio::ip::address address;
        if (node->ai_family == AF_INET && node->ai_addrlen >= sizeof(sockaddr_in)) {
            sockaddr_in sin{};
            std::memcpy(&sin, node->ai_addr, sizeof sin);
            address = asio::ip::address_v4(ntohl(sin.sin_addr.s_addr));
        } else if (node->ai_family == AF_INET6 && node->ai_addrlen >= sizeof(sockaddr_in6)) {
            sockaddr_in6 sin6{};
            std::memcpy(&sin6, node->ai_addr, sizeof sin6);
            asio::ip::address_v6::bytes_type bytes;
            std::memcpy(bytes.data(), &sin6.sin6_addr, bytes.size());
            address = asio::ip::address_v6(bytes, sin6.sin6_scope_id);
        } else {
            continue;
        }
        if (std::find(outcome.addresses.begin(), outcome.addresses.end(), address) == outcome.addresses.end()) {
            outcome.addresses.push_back(address);
        }
    }
    context->owner->record(context->index, std::move(outcome));
}

srv_status srv_status_of(const lookup_outcome& outcome) {
    switch (outcome.status) {
        case ARES_SUCCESS:
            return srv_status::found;
        case ARES_ENODATA:
        case ARES_ENOTFOUND:
            return srv_status::none;
        case ARES_ETIMEOUT:
            return srv_status::timed_out;
        default:
            return srv_status::failed;
    }
}

// A cancellation emitted while the coroutine was not inside one of our operations is only recorded here.
bool cancelled(const asio::cancellation_state& state) {
    return state.cancelled() != asio::cancellation_type::none;
}

void initialise_library() {
    // Reference-counted and not thread-safe in c-ares 1.18: once per process, never cleaned up.
    static const int status = ares_library_init(ARES_LIB_INIT_ALL);
    if (status != ARES_SUCCESS) {
        throw std::runtime_error(std::string("c-ares library init failed: ") + ares_strerror(status));
    }
}

}  // namespace

class resolver::impl : public std::enable_shared_from_this<impl> {
public:
    impl(asio::any_io_executor executor, resolver_options options)
        : executor_(std::move(executor)), options_(std::move(options)), timer_(executor_) {
        std::map<std::string, std::vector<endpoint_spec>> lowered;
        for (auto& [domain, targets] : options_.static_hosts) {
            lowered.emplace(lower_ascii(domain), std::move(targets));
        }
        options_.static_hosts = std::move(lowered);
        rng_.seed(options_.seed != 0 ? options_.seed : std::random_device{}());

        initialise_library();
        ares_options ares{};
        int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_DOMAINS;
        ares.sock_state_cb = &impl::on_socket_state;
        ares.sock_state_cb_data = this;
        ares.timeout = static_cast<int>(std::max<std::chrono::milliseconds::rep>(options_.attempt_timeout.count(), 1));
        ares.tries = std::max(options_.attempts, 1);
        // Peer domains are absolute names: never try resolv.conf's search suffixes on them.
        ares.domains = nullptr;
        ares.ndomains = 0;
        if (const int status = ares_init_options(&channel_, &ares, mask); status != ARES_SUCCESS) {
            channel_ = nullptr;
            throw std::runtime_error(std::string("c-ares init failed: ") + ares_strerror(status));
        }
        if (!options_.servers.empty()) {
            if (const int status = ares_set_servers_ports_csv(channel_, options_.servers.c_str());
                status != ARES_SUCCESS) {
                ares_destroy(channel_);
                channel_ = nullptr;
                throw std::runtime_error("invalid DNS server list '" + options_.servers +
                                         "': " + ares_strerror(status));
            }
        }
    }

    ~impl() { shutdown(); }
    impl(const impl&) = delete;
    impl& operator=(const impl&) = delete;

    const resolver_options& options() const { return options_; }

    // Fails every outstanding query (their batches end as cancelled) and lets go of c-ares' sockets.
    void shutdown() {
        if (channel_ == nullptr) {
            return;
        }
        ares_channel channel = channel_;
        channel_ = nullptr;
        ares_destroy(channel);  // calls back on_socket_state (0, 0) for each socket it closes
        for (auto& [fd, watch] : sockets_) {
            forget(*watch);
        }
        sockets_.clear();
        timer_.cancel();
    }

    static asio::awaitable<resolve_result> resolve(std::shared_ptr<impl> self, std::string domain);

private:
    // One c-ares socket as Asio sees it. The descriptor never owns the fd: c-ares opens and closes it.
    struct socket_watch {
        socket_watch(const asio::any_io_executor& ex, ares_socket_t socket) : descriptor(ex), fd(socket) {}
        asio::posix::stream_descriptor descriptor;
        ares_socket_t fd;
        bool want_read = false;
        bool want_write = false;
        bool reading = false;  // an async_wait is outstanding
        bool writing = false;
        bool gone = false;  // released: the fd number may already belong to another socket
    };

    static void on_socket_state(void* data, ares_socket_t fd, int readable, int writable) {
        static_cast<impl*>(data)->update_socket(fd, readable != 0, writable != 0);
    }

    void update_socket(ares_socket_t fd, bool readable, bool writable) {
        auto it = sockets_.find(fd);
        if (!readable && !writable) {
            if (it != sockets_.end()) {
                forget(*it->second);
                sockets_.erase(it);
            }
            return;
        }
        if (it == sockets_.end()) {
            auto watch = std::make_shared<socket_watch>(executor_, fd);
            boost::system::error_code ec;
            watch->descriptor.assign(fd, ec);
            if (ec) {
                return;  // unwatchable: its queries end at c-ares' timeout or our deadline
            }
            it = sockets_.emplace(fd, std::move(watch)).first;
        }
        it->second->want_read = readable;
        it->second->want_write = writable;
        arm(it->second);
    }

    static void forget(socket_watch& watch) {
        watch.gone = true;
        watch.descriptor.release();  // cancels its waits and leaves the fd to c-ares
    }

    void arm(const std::shared_ptr<socket_watch>& watch) {
        if (watch->want_read && !watch->reading) {
            watch->reading = true;
            wait(watch, asio::posix::stream_descriptor::wait_read);
        }
        if (watch->want_write && !watch->writing) {
            watch->writing = true;
            wait(watch, asio::posix::stream_descriptor::wait_write);
        }
    }

    void wait(const std::shared_ptr<socket_watch>& watch, asio::posix::stream_descriptor::wait_type type) {
        auto on_ready = [weak = weak_from_this(), watch, type](const boost::system::error_code& ec) {
            const bool read = type == asio::posix::stream_descriptor::wait_read;
            (read ? watch->reading : watch->writing) = false;
            if (watch->gone || ec == asio::error::operation_aborted) {
                return;
            }
            const auto self = weak.lock();
            if (!self || self->channel_ == nullptr) {
                return;
            }
            ares_process_fd(self->channel_, read ? watch->fd : ARES_SOCKET_BAD, read ? ARES_SOCKET_BAD : watch->fd);
            if (!watch->gone && !ec) {
                self->arm(watch);
            }
            self->schedule_timeouts();
        };
        watch->descriptor.async_wait(type, std::move(on_ready));
    }

    // c-ares' own retry clock; re-armed after every event since any of them can change the next expiry.
    void schedule_timeouts() {
        if (channel_ == nullptr) {
            return;
        }
        timeval storage{};
        const timeval* next = ares_timeout(channel_, nullptr, &storage);
        if (next == nullptr) {
            timer_.cancel();
            return;
        }
        timer_.expires_after(std::chrono::seconds(next->tv_sec) + std::chrono::microseconds(next->tv_usec));
        auto on_expiry = [weak = weak_from_this()](const boost::system::error_code& ec) {
            if (ec == asio::error::operation_aborted) {
                return;
            }
            const auto self = weak.lock();
            if (!self || self->channel_ == nullptr) {
                return;
            }
            ares_process_fd(self->channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
            self->schedule_timeouts();
        };
        timer_.async_wait(std::move(on_expiry));
    }

    template <class Handler>
    void start_batch(Handler handler, const std::vector<query_spec>& queries, clock_type::time_point deadline) {
        auto owner = std::make_shared<batch_for<Handler>>(executor_, queries.size(), std::move(handler));
        if (auto slot = owner->slot(); slot.is_connected()) {
            auto on_cancel = [weak = std::weak_ptr<batch>(owner)](asio::cancellation_type type) {
                if (type == asio::cancellation_type::none) {
                    return;
                }
                if (const auto alive = weak.lock()) {
                    alive->finish(batch_end::cancelled, true);
                }
            };
            slot.assign(std::move(on_cancel));
        }
        if (channel_ == nullptr) {
            owner->finish(batch_end::cancelled);
            return;
        }
        if (queries.empty()) {
            owner->finish(batch_end::completed);
            return;
        }
        owner->timer().expires_at(deadline);
        auto on_deadline = [owner](const boost::system::error_code& ec) {
            if (!ec) {
                owner->finish(batch_end::timed_out);
            }
        };
        owner->timer().async_wait(std::move(on_deadline));

        for (std::size_t i = 0; i < queries.size(); ++i) {
            // Owned by c-ares until its callback, which it always calls (at the latest from ares_destroy).
            auto context = std::make_unique<query_context>();
            context->owner = owner;
            context->index = i;
            if (queries[i].srv) {
                ares_query(channel_, queries[i].name.c_str(), dns_class_in, dns_type_srv, &on_srv_answer,
                           context.release());
            } else {
                ares_addrinfo_hints hints{};
                hints.ai_family = AF_UNSPEC;
                hints.ai_socktype = SOCK_STREAM;
                ares_getaddrinfo(channel_, queries[i].name.c_str(), nullptr, &hints, &on_address_answer,
                                 context.release());
            }
            if (channel_ == nullptr) {
                break;  // cannot happen today (callbacks only post), but never touch a destroyed channel
            }
        }
        schedule_timeouts();
    }

    asio::awaitable<batch_result> run(std::vector<query_spec> queries, clock_type::time_point deadline) {
        auto initiation = [self = shared_from_this(), queries = std::move(queries), deadline](auto handler) {
            self->start_batch(std::move(handler), queries, deadline);
        };
        co_return co_await asio::async_initiate<const asio::use_awaitable_t<>&, void(batch_result)>(
            std::move(initiation), asio::use_awaitable);
    }

    asio::any_io_executor executor_;
    resolver_options options_;
    std::mt19937 rng_;
    ares_channel channel_ = nullptr;
    asio::steady_timer timer_;
    std::unordered_map<ares_socket_t, std::shared_ptr<socket_watch>> sockets_;
};

asio::awaitable<resolve_result> resolver::impl::resolve(std::shared_ptr<impl> self, std::string domain) {
    // Results carry errors; a cancelled coroutine must not start throwing at its next co_await.
    co_await asio::this_coro::throw_if_cancelled(false);
    const auto deadline = clock_type::now() + self->options_.deadline;
    resolve_result result;

    if (domain.empty()) {
        result.error = resolve_errc::not_found;
        co_return result;
    }
    // RFC 6761 §6.4: names under .invalid never exist; answer at once instead of asking (and maybe waiting on) DNS.
    if (const std::string lowered = lower_ascii(domain);
        (lowered == "invalid" || lowered.ends_with(".invalid") || lowered.ends_with(".invalid.")) &&
        !self->options_.static_hosts.contains(lowered)) {
        result.error = resolve_errc::not_found;
        co_return result;
    }
    std::vector<endpoint_spec> targets;
    if (const auto it = self->options_.static_hosts.find(lower_ascii(domain));
        it != self->options_.static_hosts.end()) {
        result.source = resolve_source::static_table;
        targets = it->second;
    } else {
        std::vector<query_spec> srv_queries(2);
        srv_queries[0].srv = true;
        srv_queries[0].name = "_xmpps-server._tcp." + domain;
        srv_queries[1].srv = true;
        srv_queries[1].name = "_xmpp-server._tcp." + domain;
        if (cancelled(co_await asio::this_coro::cancellation_state)) {
            result.error = resolve_errc::cancelled;
            co_return result;
        }
        const batch_result answers = co_await self->run(std::move(srv_queries), deadline);
        if (answers.end == batch_end::cancelled) {
            result.error = resolve_errc::cancelled;
            co_return result;
        }
        srv_lookup lookups[2];
        for (std::size_t i = 0; i < 2; ++i) {
            const lookup_outcome& outcome = answers.outcomes[i];
            // An answer still missing at the deadline counts as unanswered.
            lookups[i].status = outcome.finished ? srv_status_of(outcome) : srv_status::timed_out;
            lookups[i].records = outcome.records;
        }
        target_plan plan = plan_targets(domain, lookups[0], lookups[1], self->rng_);
        result.source = plan.source;
        if (plan.error) {
            result.error = plan.error;
            co_return result;
        }
        targets = std::move(plan.targets);
    }

    // One address lookup per distinct host name (the same host may serve direct TLS and STARTTLS). IP literals
    // need none, and must not reach c-ares 1.18 anyway: under AF_UNSPEC its getaddrinfo sends IPv4 literals to DNS.
    std::vector<query_spec> address_queries;
    std::vector<std::size_t> query_of(targets.size(), 0);
    std::vector<std::optional<asio::ip::address>> literal(targets.size());
    for (std::size_t i = 0; i < targets.size(); ++i) {
        boost::system::error_code ec;
        const auto address = asio::ip::make_address(targets[i].host, ec);
        if (!ec) {
            literal[i] = address;
            continue;
        }
        const auto same = std::find_if(address_queries.begin(), address_queries.end(),
                                       [&](const query_spec& q) { return q.name == targets[i].host; });
        query_of[i] = static_cast<std::size_t>(same - address_queries.begin());
        if (same == address_queries.end()) {
            query_spec query;
            query.name = targets[i].host;
            address_queries.push_back(std::move(query));
        }
    }
    batch_result addresses;
    if (!address_queries.empty()) {
        if (cancelled(co_await asio::this_coro::cancellation_state)) {
            result.error = resolve_errc::cancelled;
            co_return result;
        }
        addresses = co_await self->run(std::move(address_queries), deadline);
        if (addresses.end == batch_end::cancelled) {
            result.error = resolve_errc::cancelled;
            co_return result;
        }
    }

    bool timed_out = addresses.end == batch_end::timed_out;
    bool failed = false;
    for (std::size_t i = 0; i < targets.size(); ++i) {
        std::vector<asio::ip::address> found;
        if (literal[i]) {
            found.push_back(*literal[i]);
        } else {
            const lookup_outcome& outcome = addresses.outcomes[query_of[i]];
            found = outcome.addresses;
            if (found.empty()) {
                // A host that does not resolve is skipped (RFC 6120 §3.2.1: go on with the next target).
                if (!outcome.finished || outcome.status == ARES_ETIMEOUT) {
                    timed_out = true;
                } else if (outcome.status != ARES_ENOTFOUND && outcome.status != ARES_ENODATA) {
                    failed = true;
                }
                continue;
            }
        }
        resolved_target target;
        target.host = std::move(targets[i].host);
        target.port = targets[i].port;
        target.direct_tls = targets[i].direct_tls;
        for (const auto& address : found) {
            target.endpoints.emplace_back(address, target.port);
        }
        result.targets.push_back(std::move(target));
    }
    if (result.targets.empty()) {
        // The most hopeful reason first: a timeout or a failure may pass, a missing name will not.
        if (timed_out) {
            result.error = resolve_errc::timeout;
        } else if (failed) {
            result.error = resolve_errc::lookup_failed;
        } else {
            result.error = resolve_errc::not_found;
        }
    }
    co_return result;
}

resolver::resolver(boost::asio::any_io_executor executor, resolver_options options)
    : impl_(std::make_shared<impl>(std::move(executor), std::move(options))) {}

resolver::~resolver() {
    impl_->shutdown();
}

boost::asio::awaitable<resolve_result> resolver::resolve(std::string domain) {
    // A free-standing coroutine holding the impl: it may resume after this resolver object is gone.
    return impl::resolve(impl_, std::move(domain));
}

const resolver_options& resolver::options() const {
    return impl_->options();
}

}  // namespace hush

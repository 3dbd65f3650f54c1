// c-ares on Asio: resolver::impl's channel, its sockets watched and its retry clock kept by the resolver's
// executor, and batches of SRV and A/AAAA queries awaited as one operation.
#include "server/s2s/resolver_impl.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <stdexcept>
#include <utility>

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace hush {

using resolver_detail::batch_end;
using resolver_detail::batch_result;
using resolver_detail::lookup_outcome;
using resolver_detail::lower_ascii;
using resolver_detail::query_spec;

namespace {

namespace asio = boost::asio;

constexpr int dns_class_in = 1;
constexpr int dns_type_srv = 33;

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

// What both answer callbacks do first: nothing once the batch is over; a cancelled or destroyed channel ends it.
bool answer_wanted(const query_context& context, int status) {
    if (context.owner->done()) {
        return false;
    }
    if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED) {
        context.owner->finish(batch_end::cancelled);
        return false;
    }
    return true;
}

void on_srv_answer(void* arg, int status, int /*timeouts*/, unsigned char* answer, int length) {
    const std::unique_ptr<query_context> context(static_cast<query_context*>(arg));
    if (!answer_wanted(*context, status)) {
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
    if (!answer_wanted(*context, status)) {
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

void initialise_library() {
    // Reference-counted and not thread-safe in c-ares 1.18: once per process, never cleaned up.
    static const int status = ares_library_init(ARES_LIB_INIT_ALL);
    if (status != ARES_SUCCESS) {
        throw std::runtime_error(std::string("c-ares library init failed: ") + ares_strerror(status));
    }
}

}  // namespace

resolver::impl::impl(asio::any_io_executor executor, resolver_options options)
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

void resolver::impl::shutdown() {
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

void resolver::impl::on_socket_state(void* data, ares_socket_t fd, int readable, int writable) {
    static_cast<impl*>(data)->update_socket(fd, readable != 0, writable != 0);
}

void resolver::impl::update_socket(ares_socket_t fd, bool readable, bool writable) {
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

void resolver::impl::forget(socket_watch& watch) {
    watch.gone = true;
    watch.descriptor.release();  // cancels its waits and leaves the fd to c-ares
}

void resolver::impl::arm(const std::shared_ptr<socket_watch>& watch) {
    if (watch->want_read && !watch->reading) {
        watch->reading = true;
        wait(watch, asio::posix::stream_descriptor::wait_read);
    }
    if (watch->want_write && !watch->writing) {
        watch->writing = true;
        wait(watch, asio::posix::stream_descriptor::wait_write);
    }
}

void resolver::impl::wait(const std::shared_ptr<socket_watch>& watch, asio::posix::stream_descriptor::wait_type type) {
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

void resolver::impl::schedule_timeouts() {
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
void resolver::impl::start_batch(Handler handler, const std::vector<query_spec>& queries,
                                 clock_type::time_point deadline) {
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

asio::awaitable<batch_result> resolver::impl::run(std::vector<query_spec> queries, clock_type::time_point deadline) {
    auto initiation = [self = shared_from_this(), queries = std::move(queries), deadline](auto handler) {
        self->start_batch(std::move(handler), queries, deadline);
    };
    co_return co_await asio::async_initiate<const asio::use_awaitable_t<>&, void(batch_result)>(
        std::move(initiation), asio::use_awaitable);
}

}  // namespace hush

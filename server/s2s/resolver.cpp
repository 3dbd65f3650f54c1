// resolver: for one domain, the static table or the SRV lookups and their plan, then the hosts' addresses, within
// one deadline; its error category.
#include "server/s2s/resolver.hpp"
#include "server/s2s/resolver_impl.hpp"

#include <algorithm>
#include <optional>
#include <utility>

#include <boost/asio/cancellation_state.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/this_coro.hpp>

namespace hush {

using resolver_detail::batch_end;
using resolver_detail::batch_result;
using resolver_detail::lookup_outcome;
using resolver_detail::lower_ascii;
using resolver_detail::query_spec;

namespace {

namespace asio = boost::asio;

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

}  // namespace

const std::error_category& resolve_category() noexcept {
    static const resolve_category_impl category;
    return category;
}

std::error_code make_error_code(resolve_errc e) noexcept {
    return {static_cast<int>(e), resolve_category()};
}

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

// Where the SRV records say to connect: RFC 2782 order (priority, then a weighted draw) and the merge of the
// _xmpps-server and _xmpp-server lookups into the targets to try, or the reason there are none (XEP-0368).
#include "server/s2s/resolver.hpp"

#include <algorithm>
#include <iterator>
#include <utility>

namespace hush {

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

}  // namespace hush

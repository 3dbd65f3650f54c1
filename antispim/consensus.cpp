#include "antispim/consensus.hpp"

#include "protocol/roster_item.hpp"
#include "protocol/xep0082.hpp"
#include "storage/store.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace hush {

namespace asio = boost::asio;

std::int64_t voter_weight(std::chrono::seconds age, std::size_t mutual_contacts,
                          const antispim_config::consensus_options& options) {
    double weight = 1.0;
    const auto min_age = std::chrono::duration_cast<std::chrono::seconds>(options.voter_min_age);
    if (min_age.count() > 0 && age < min_age) {
        weight *= static_cast<double>(std::max<std::int64_t>(age.count(), 0)) / static_cast<double>(min_age.count());
    }
    if (options.voter_min_contacts > 0 && mutual_contacts < options.voter_min_contacts) {
        weight *= static_cast<double>(mutual_contacts) / static_cast<double>(options.voter_min_contacts);
    }
    return static_cast<std::int64_t>(weight * 100.0);  // rounded down: a voter almost in standing is not yet
}

storage::result<std::size_t> established_contacts(storage::store& s, const jid& voter, std::int64_t now,
                                                  const antispim_config::consensus_options& options,
                                                  const std::function<bool(std::string_view)>& is_local) {
    auto roster = s.get_roster(voter.domain(), voter.node());
    if (!roster) {
        return hush::unexpected<storage::error>(roster.error());
    }
    const auto min_age = std::chrono::duration_cast<std::chrono::seconds>(options.voter_min_age).count();
    std::size_t counted = 0;
    for (const auto& item : *roster) {
        if (counted >= options.voter_min_contacts) {
            break;  // enough: the rest need no lookup
        }
        if (item.sub != subscription::both) {
            continue;
        }
        const auto contact = jid::parse(item.contact);
        if (!contact) {
            continue;
        }
        if (!is_local(contact->domain())) {
            ++counted;
            continue;
        }
        auto created = s.account_created_at(contact->domain(), contact->node());
        if (!created) {
            return hush::unexpected<storage::error>(created.error());
        }
        if (created->has_value() && now - **created >= min_age) {
            ++counted;
        }
    }
    return counted;
}

consensus::consensus(const antispim_config& cfg, storage::async_store& store, blocklist_service& blocklist,
                     admin_notifier& admins, std::function<bool(std::string_view)> is_local)
    : options_(cfg.consensus),
      store_(store),
      blocklist_(blocklist),
      admins_(admins),
      is_local_(std::move(is_local)) {}

consensus::counters consensus::totals() const {
    return {votes_.load(), reports_.load(), blocks_.load(), would_block_.load()};
}

asio::awaitable<void> consensus::report(const jid& reporter, const jid& reported, const spam_report_payload& report,
                                        outgoing& out) {
    storage::spam_report stored;
    stored.reporter = reporter.bare_string();
    stored.reported = reported.bare_string();
    stored.reason = report.short_reason();
    stored.text = report.joined_text().substr(0, 4096);
    for (const auto& id : report.stanza_ids) {
        if (stored.stanza_ids.size() < 50) {
            stored.stanza_ids.push_back(id.id);
        }
    }
    stored.at = unix_now();
    auto add = [stored](storage::store& s) { return s.add_spam_report(stored); };
    if (auto id = co_await store_.run(std::move(add)); !id) {
        spdlog::error("antispim: cannot store the report of {} about {}: {}", stored.reporter, stored.reported,
                      id.error().message);
    } else {
        reports_.fetch_add(1);
        spdlog::info("antispim: {} reported {} ({}, {} stanza id(s)): report {}", stored.reporter, stored.reported,
                     stored.reason, stored.stanza_ids.size(), *id);
    }
    co_await vote(reporter, reported, "report", out);
}

asio::awaitable<void> consensus::vote(const jid& voter, const jid& sender, std::string kind, outgoing& out) {
    if (!options_.enabled || !sender.has_node() || voter.equals_bare(sender)) {
        co_return;
    }
    const std::int64_t now = unix_now();
    storage::spam_vote v{voter.bare_string(), sender.bare_string(), sender.domain(), std::move(kind), now};
    const std::int64_t since = now - options_.window.count();
    // One storage job reads the voter's standing, stores the vote and counts: the decision sees its own vote.
    auto record = [v, since, voter, options = options_, is_local = is_local_](storage::store& s) mutable
        -> storage::result<storage::spam_vote_tally> {
        auto created = s.account_created_at(voter.domain(), voter.node());
        if (!created) {
            return hush::unexpected<storage::error>(created.error());
        }
        auto mutual = established_contacts(s, voter, v.at, options, is_local);
        if (!mutual) {
            return hush::unexpected<storage::error>(mutual.error());
        }
        const std::chrono::seconds age{created->has_value() ? v.at - **created : 0};
        v.weight = voter_weight(age, *mutual, options);
        if (auto put = s.put_spam_vote(v); !put) {
            return hush::unexpected<storage::error>(put.error());
        }
        return s.tally_spam_votes(v.sender, v.sender_domain, since);
    };
    auto counted = co_await store_.run(std::move(record));
    if (!counted) {
        spdlog::error("antispim: cannot record the {} of {} by {}: {}", v.kind, v.sender, v.voter,
                      counted.error().message);
        co_return;
    }
    votes_.fetch_add(1);
    const auto window_hours = std::chrono::duration_cast<std::chrono::hours>(options_.window).count();
    auto voters = [](std::int64_t hundredths) {  // 300 → "3", 205 → "2.05"
        const auto cents = hundredths % 100;
        return std::to_string(hundredths / 100) +
               (cents == 0 ? "" : (cents < 10 ? ".0" : ".") + std::to_string(cents));
    };
    if (counted->sender_weight >= static_cast<std::int64_t>(options_.users) * 100) {
        co_await block("jid", v.sender,
                       "local users weighing " + voters(counted->sender_weight) + " voters (of " +
                           std::to_string(options_.users) + " needed) blocked, reported or locked out this sender "
                           "within " + std::to_string(window_hours) + " h",
                       out);
    }
    if (!is_local_(v.sender_domain) && counted->domain_senders >= static_cast<std::int64_t>(options_.domain_senders) &&
        counted->domain_weight >= static_cast<std::int64_t>(options_.domain_voters) * 100) {
        co_await block("domain", v.sender_domain,
                       std::to_string(counted->domain_senders) + " senders of this domain were blocked, reported or "
                       "locked out by local users weighing " + voters(counted->domain_weight) + " voters within " +
                       std::to_string(window_hours) + " h",
                       out);
    }
}

asio::awaitable<void> consensus::block(std::string kind, std::string value, std::string why, outgoing& out) {
    const auto now = unix_now();
    const auto list = blocklist_.current();
    for (const auto& e : list->entries()) {
        // Already covered (by an admin, an earlier consensus, a DoS block, a whole-domain entry): nothing to add.
        if (e.expires_at != 0 && e.expires_at <= now) {
            continue;
        }
        if ((e.kind == kind && e.value == value) ||
            (e.kind == "domain" && kind == "jid" && jid::parse(value) && jid::parse(value)->domain() == e.value)) {
            co_return;
        }
    }
    if (options_.dry_run) {
        would_block_.fetch_add(1);
        spdlog::info("antispim: consensus (dry run) would block {} {}: {}", kind, value, why);
        co_return;
    }
    storage::blocklist_entry entry;
    entry.kind = kind;
    entry.value = value;
    entry.reason = why;
    entry.source = "user consensus";
    entry.added_at = now;
    entry.expires_at = now + std::chrono::duration_cast<std::chrono::seconds>(options_.block_for).count();
    auto put = [entry](storage::store& s) { return s.put_blocklist_entry(entry); };
    if (auto stored = co_await store_.run(std::move(put)); !stored) {
        spdlog::error("antispim: consensus cannot store the block of {} {}: {}", kind, value, stored.error().message);
        co_return;
    }
    blocks_.fetch_add(1);
    co_await blocklist_.reload();
    admins_.notify("user consensus blocked " + kind + " " + value,
                   value + " is blocked server-wide for " + std::to_string(options_.block_for.count()) + " h: " + why +
                       ". Review with `hushctl blocklist list` or the admin page.",
                   out);
}

}  // namespace hush

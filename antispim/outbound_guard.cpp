#include "antispim/outbound_guard.hpp"

#include "protocol/xep0082.hpp"

#include <spdlog/spdlog.h>

#include <memory>
#include <set>

#include "antispim/context.hpp"

namespace hush {

namespace asio = boost::asio;

outbound_guard::outbound_guard(const antispim_config& cfg, storage::async_store& store, admin_notifier& admins,
                               stranger_oracle& strangers, std::size_t max_accounts,
                               std::atomic<std::uint64_t>* evictions)
    : options_(cfg.outbound),
      store_(store),
      admins_(admins),
      strangers_(strangers),
      contacted_(max_accounts, evictions) {}

std::string_view outbound_guard::outcome_name(outcome o) {
    static constexpr std::array<std::string_view, outcome_count> names{
        "allowed", "throttled", "suspended", "would_throttle", "would_suspend", "refused_suspended"};
    return names[static_cast<std::size_t>(o)];
}

std::array<std::uint64_t, outbound_guard::outcome_count> outbound_guard::counters() const {
    std::array<std::uint64_t, outcome_count> out{};
    for (std::size_t i = 0; i < outcome_count; ++i) {
        out[i] = counters_[i].load();
    }
    return out;
}

std::size_t outbound_guard::record(const std::string& account, const std::string& target,
                                   std::chrono::steady_clock::time_point now) {
    std::lock_guard lock(mutex_);
    auto& seen = contacted_[account];  // bounded: a full map forgets the account idle for longest
    while (!seen.empty() && now - seen.front().first > options_.window) {
        seen.pop_front();
    }
    seen.emplace_back(now, target);
    if (seen.size() > 4 * std::max(options_.suspend_at, options_.new_suspend_at)) {
        seen.pop_front();
    }
    std::set<std::string_view> distinct;
    for (const auto& [at, who] : seen) {
        distinct.insert(who);
    }
    return distinct.size();
}

asio::awaitable<void> outbound_guard::flag(const jid& account, std::string state, std::string reason, outgoing& out) {
    storage::account_flag f{account.bare_string(), std::move(state), std::move(reason), unix_now()};
    auto put = [f](storage::store& s) { return s.put_account_flag(f); };
    if (auto stored = co_await store_.run(std::move(put)); !stored) {
        spdlog::error("antispim: cannot store the {} flag of {}: {}", f.state, f.account, stored.error().message);
    }
    admins_.notify("account " + f.account + " " + f.state,
                            f.account + " was " + f.state + " by outbound protection: " + f.reason +
                                (f.state == "suspended"
                                     ? ". Its messages and invitations to strangers are refused until you clear it "
                                       "(`hushctl account clear " + f.account + "` or the admin page)."
                                     : ". Its first contacts wait until the window moves on."),
                   out);
}

asio::awaitable<std::optional<outbound_refusal>> outbound_guard::check(const stanza& s, const jid& from,
                                                                       const jid& to, outgoing& out,
                                                                       relation_ahead* ahead) {
    if (!options_.enabled || from.equals_bare(to) || !to.has_node() ||
        !antispim::is_first_contact(antispim::path_of(s)) || s.kind() == stanza_kind::iq) {
        co_return std::nullopt;
    }
    // A message without a body (receipts, chat states) contacts nobody new.
    if (s.kind() == stanza_kind::message && !s.element().child("body")) {
        co_return std::nullopt;
    }
    const std::string account = from.bare_string();
    // The account's flag and its age, read in the same job as whether the addressee is a stranger to it (when it
    // is), and with what the router reads next (`ahead`): one storage round trip.
    struct facts {
        bool read = false;
        bool age_read = false;
        std::optional<storage::account_flag> flag;
        bool young = false;
    };
    auto found = std::make_shared<facts>();
    companion_read read_facts = [found, account, d = from.domain(), u = from.node(), now = unix_now(),
                                 new_account = std::chrono::duration_cast<std::chrono::seconds>(options_.new_account)
                                                   .count()](storage::store& st) -> storage::result<void> {
        facts out;
        auto flag = st.get_account_flag(account);
        if (!flag) {
            return hush::unexpected(flag.error());
        }
        out.flag = std::move(*flag);
        if (new_account > 0) {
            auto created = st.account_created_at(d, u);
            if (!created) {
                return hush::unexpected(created.error());
            }
            out.young = *created && now - **created < new_account;
            out.age_read = true;
        }
        out.read = true;
        *found = std::move(out);
        return {};
    };
    // From the sender's side: is the addressee someone it has no relation with?
    if (!co_await strangers_.stranger_to_user(from.bare(), to, read_facts, ahead)) {
        co_return std::nullopt;
    }
    if (!found->read) {
        // The shared read failed (or never got to it): a read of its own, as alone.
        auto read = co_await store_.read([read_facts](storage::store& st) { return read_facts(st); });
        if (!read) {
            spdlog::error("antispim: outbound protection cannot read the flag of {}: {}", account,
                          read.error().message);
        }
    }
    if (ahead != nullptr && found->age_read) {
        ahead->sender_young = found->young;  // the combined score's `new-account` part, without a read of its own
    }
    const std::optional<storage::account_flag> existing = found->flag;  // unread: none, and not young
    const bool already_flagged = existing && existing->state == "flagged";
    if (existing && existing->state == "suspended") {
        if (options_.dry_run) {
            count(outcome::would_suspend);
            co_return std::nullopt;
        }
        count(outcome::refused_suspended);
        co_return outbound_refusal{"policy-violation", error_type::cancel,
                                   "contacting new people is suspended for this account; ask the server's "
                                   "administrator"};
    }
    const bool young = found->young;
    const std::size_t throttle_at = young ? options_.new_throttle_at : options_.throttle_at;
    const std::size_t suspend_at = young ? options_.new_suspend_at : options_.suspend_at;
    const std::size_t reached = record(account, to.bare_string(), std::chrono::steady_clock::now());
    const std::string why = std::to_string(reached) + " strangers contacted within " +
                            std::to_string(options_.window.count()) + " s" + (young ? " by a new account" : "");
    if (reached > suspend_at) {
        if (options_.dry_run) {
            count(outcome::would_suspend);
            spdlog::info("antispim: outbound protection (dry run) would suspend {}: {}", account, why);
            co_return std::nullopt;
        }
        count(outcome::suspended);
        {
            // The suspension is stored; once an admin clears it, counting starts afresh.
            std::lock_guard lock(mutex_);
            contacted_.erase(account);
        }
        co_await flag(from, "suspended", why, out);
        co_return outbound_refusal{"policy-violation", error_type::cancel,
                                   "contacting new people is suspended for this account; ask the server's "
                                   "administrator"};
    }
    if (reached > throttle_at) {
        if (options_.dry_run) {
            count(outcome::would_throttle);
            spdlog::info("antispim: outbound protection (dry run) would throttle {}: {}", account, why);
            co_return std::nullopt;
        }
        count(outcome::throttled);
        if (!already_flagged) {
            co_await flag(from, "flagged", why, out);
        }
        co_return outbound_refusal{"policy-violation", error_type::wait,
                                   "you have contacted too many new people recently; try again later"};
    }
    count(outcome::allowed);
    co_return std::nullopt;
}

}  // namespace hush

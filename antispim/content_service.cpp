#include "antispim/content_service.hpp"

#include <boost/asio/co_spawn.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "protocol/xep0082.hpp"

namespace hush::antispim {

namespace asio = boost::asio;

namespace {

std::string points(double p) {
    char text[32];
    std::snprintf(text, sizeof text, "%.1f", p);
    return text;
}

// spamd's rules worth naming: not the ones every chat message hits (no mail relays in XMPP).
std::string rules_of(const spamd_verdict& v) {
    std::string out;
    std::size_t named = 0;
    for (const auto& rule : v.symbols) {
        if (rule == "NO_RECEIVED" || rule == "NO_RELAYS" || named == 6) {
            continue;
        }
        out += (out.empty() ? "" : ",") + rule;
        ++named;
    }
    return out;
}

class content_policy final : public policy {
public:
    explicit content_policy(content_service& service) : service_(service) {}
    std::string_view name() const override { return "content"; }

    asio::awaitable<hush::expected<verdict, policy_failure>> evaluate(const spim_context& ctx) override;

private:
    content_service& service_;
};

}  // namespace

void score_sheet::add(std::string what, double p) {
    total += p;
    parts.emplace_back(std::move(what), p);
}

std::string score_sheet::explain() const {
    std::string out = "score " + points(total);
    for (std::size_t i = 0; i < parts.size(); ++i) {
        const double p = parts[i].second;
        out += (i == 0 ? (p < 0 ? " = -" : " = ") : (p < 0 ? " - " : " + ")) + parts[i].first + " " +
               points(std::abs(p));
    }
    for (const auto& note : notes) {
        out += "; " + note;
    }
    return out;
}

content_service::content_service(const antispim_config& cfg, storage::async_store& store, std::string token_key,
                                 signal_source signals, quiet_hold hold, asio::any_io_executor executor)
    : cfg_(cfg),
      store_(store),
      token_key_(std::move(token_key)),
      signals_(std::move(signals)),
      hold_(std::move(hold)),
      bayes_(cfg.content.bayes_min_messages, cfg.content.bayes_max_tokens),
      urls_(cfg.content.url_lists),
      executor_(std::move(executor)) {
    if (!cfg.content.spamd.empty()) {
        spamd_ = std::make_unique<spamd_client>(cfg.content.spamd, cfg.content.spamd_timeout,
                                                cfg.content.spamd_connections);
    }
    if (auto loaded = urls_.reload(); !loaded) {
        throw std::runtime_error("[antispim.content] url_lists: " + loaded.error());
    }
}

std::unique_ptr<policy> content_service::make_policy() { return std::make_unique<content_policy>(*this); }

bool content_service::encrypted(const hush::stanza& s) {
    static constexpr std::pair<std::string_view, std::string_view> payloads[] = {
        {"encrypted", "eu.siacs.conversations.axolotl"},  // OMEMO (legacy), what most clients send
        {"encrypted", "urn:xmpp:omemo:2"},                // OMEMO 2
        {"openpgp", "urn:xmpp:openpgp:0"},                // XEP-0373
        {"x", "jabber:x:encrypted"},                      // XEP-0027
    };
    return std::any_of(std::begin(payloads), std::end(payloads),
                       [&](const auto& p) { return !s.child(p.first, p.second).empty(); });
}

std::string content_service::text_of(const hush::stanza& s) {
    const auto element = s.element();
    return element.child_value(s.kind() == stanza_kind::message ? "body" : "status");
}

asio::awaitable<score_sheet> content_service::score(const spim_context& ctx) {
    score_sheet sheet;
    const std::string text = text_of(ctx.stanza);
    if (encrypted(ctx.stanza)) {
        sheet.notes.emplace_back("encrypted: no content score");
    } else if (!text.empty()) {
        if (spamd_) {
            const auto now = std::chrono::system_clock::now();
            const auto id = std::to_string(message_ids_.fetch_add(1, std::memory_order_relaxed)) + "." +
                            std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(
                                               now.time_since_epoch()).count()) + "@" + ctx.receiver.domain();
            auto checked = co_await spamd_->check(spamd_mail(ctx.sender.bare_string(), ctx.receiver.bare_string(),
                                                             text, unix_now(), id));
            if (checked) {
                const std::string rules = rules_of(*checked);
                sheet.add("spamd " + points(checked->score) + (rules.empty() ? "" : " [" + rules + "]"),
                          checked->score * cfg_.content.spamd_weight);
            } else {
                spamd_failures_.fetch_add(1, std::memory_order_relaxed);
                spdlog::warn("antispim: content: no spamd score for {} -> {}: {} (fail mode {})",
                             ctx.sender.bare_string(), ctx.receiver.bare_string(), checked.error(),
                             cfg_.content.spamd_fail);
                sheet.notes.push_back("spamd unavailable: " + checked.error());
                sheet.spamd_failed = true;
            }
        }
        if (cfg_.content.bayes) {
            const auto b = bayes_.score(hashed_tokens(token_key_, text));
            if (!b.trained) {
                const auto st = bayes_.stats();
                sheet.notes.push_back("bayes untrained (" + std::to_string(st.spam_messages) + " spam, " +
                                      std::to_string(st.ham_messages) + " ham of " + std::to_string(st.min_messages) +
                                      " each)");
            } else if (b.tokens_used > 0) {
                sheet.add("bayes p=" + points(b.probability * 100) + "%",
                          cfg_.content.bayes_weight * (b.probability - 0.5) * 2);
            }
        }
        for (const auto& domain : urls_.listed_in(text)) {
            sheet.add("url-list " + domain, cfg_.content.url_weight);
        }
    }
    const sender_signals sig = signals_ ? co_await signals_(ctx) : sender_signals{};
    const auto& w = cfg_.score;
    if (sig.listed && w.listed > 0) {
        sheet.add("listed", w.listed);
    }
    if (sig.suspect && w.reputation > 0) {
        sheet.add("reputation", w.reputation);
    }
    const std::size_t limit = cfg_.dos.distinct_receivers;
    if (sig.reached > 1 && w.behaviour > 0 && limit > 0) {
        sheet.add("behaviour " + std::to_string(sig.reached) + "/" + std::to_string(limit) + " receivers",
                  w.behaviour * std::min(1.0, static_cast<double>(sig.reached) / static_cast<double>(limit)));
    }
    if (sig.new_account && w.new_account > 0) {
        sheet.add("new-account", w.new_account);
    }
    // Below half a bucket a first contact is ordinary; from there the part grows to the full weight at empty.
    if (sig.rate_used >= rate_part_from && w.rate > 0) {
        sheet.add("rate " + std::to_string(static_cast<int>(std::lround(sig.rate_used * 100))) + "% used",
                  w.rate * sig.rate_used);
    }
    co_return sheet;
}

asio::awaitable<hush::expected<void, std::string>> content_service::learn(bool spam, std::string text) {
    auto tokens = hashed_tokens(token_key_, text);
    if (tokens.size() <= 2) {  // only the shape tokens: no words
        co_return hush::expected<void, std::string>();
    }
    auto train = [spam, tokens, now = unix_now(), max = cfg_.content.bayes_max_tokens](storage::store& s) {
        return s.train_content(spam, tokens, now, max);
    };
    if (auto stored = co_await store_.run(std::move(train)); !stored) {
        co_return hush::unexpected<std::string>(stored.error().message);
    }
    bayes_.learn(spam, tokens);
    co_return hush::expected<void, std::string>();
}

void content_service::learn_later(bool spam, std::string text) {
    if (!cfg_.content.bayes || text.empty()) {
        return;
    }
    if (lessons_queued_.fetch_add(1, std::memory_order_relaxed) >= max_lessons_queued) {
        lessons_queued_.fetch_sub(1, std::memory_order_relaxed);
        lessons_skipped_.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    asio::co_spawn(
        executor_,
        [this, spam, text = std::move(text)]() -> asio::awaitable<void> {
            if (auto learnt = co_await learn(spam, text); !learnt) {
                spdlog::error("antispim: content: cannot learn a {} message: {}", spam ? "spam" : "ham",
                              learnt.error());
            } else {
                spdlog::debug("antispim: content: learnt a {} message", spam ? "spam" : "ham");
            }
        },
        [this](std::exception_ptr failure) {
            lessons_queued_.fetch_sub(1, std::memory_order_relaxed);
            if (failure) {
                try {
                    std::rethrow_exception(failure);
                } catch (const std::exception& e) {
                    spdlog::error("antispim: content: a lesson failed: {}", e.what());
                } catch (...) {
                    spdlog::error("antispim: content: a lesson failed");
                }
            }
        });
}

asio::awaitable<void> content_service::reload(bool lists) {
    if (cfg_.content.bayes) {
        auto load = [max = cfg_.content.bayes_max_tokens](storage::store& s) { return s.load_content_model(max); };
        if (auto model = co_await store_.run(std::move(load)); model) {
            const auto before = bayes_.stats();
            bayes_.load(*model);
            const auto after = bayes_.stats();
            if (after.spam_messages != before.spam_messages || after.ham_messages != before.ham_messages) {
                spdlog::info("antispim: content: Bayes model loaded: {} spam, {} ham message(s), {} token(s){}",
                             after.spam_messages, after.ham_messages, after.tokens,
                             after.trained() ? "" : " (not scoring yet)");
            }
        } else {
            spdlog::error("antispim: content: cannot load the Bayes model: {}", model.error().message);
        }
    }
    if (lists && !urls_.empty()) {
        if (auto loaded = urls_.reload(); loaded) {
            spdlog::info("antispim: content: URL lists loaded, {} domain(s)", *loaded);
        } else {
            spdlog::error("antispim: content: URL lists not reloaded, keeping the old ones: {}", loaded.error());
        }
    }
}

asio::awaitable<hush::expected<verdict, policy_failure>> content_policy::evaluate(const spim_context& ctx) {
    using result = hush::expected<verdict, policy_failure>;
    const auto& cfg = service_.options();
    const bool judged = ctx.stranger || (cfg.content.local_first_contacts && !ctx.contact &&
                                         ctx.origin == origin_kind::local_session);
    if (!judged || !is_first_contact(path_of(ctx.stanza))) {
        co_return result(verdict::pass());
    }
    // An answer to the receiver's challenge is the challenge policy's to judge, whatever it says.
    if (ctx.record && ctx.kind == stanza_kind::message &&
        challenge_engine::looks_like_answer(ctx.record->state, ctx.stanza.element().child_value("body"))) {
        co_return result(verdict::pass());
    }
    const score_sheet sheet = co_await service_.score(ctx);
    const auto& t = cfg.score;
    verdict v;
    v.explanation = sheet.explain();
    if (sheet.total >= t.reject_at) {
        v.kind = verdict_kind::reject;
        v.reason = "content-reject";
        v.error_condition = "policy-violation";
        v.error_text = "Refused: this looks like spam to the receiver's server.";
        co_return result(std::move(v));
    }
    if (sheet.total >= t.hold_at || (sheet.spamd_failed && cfg.content.spamd_fail == "hold")) {
        auto held = co_await service_.hold(ctx);
        if (!held) {
            co_return held;
        }
        held->reason = sheet.total >= t.hold_at ? "content-hold" : "content-spamd-unavailable";
        held->explanation = v.explanation;
        co_return held;
    }
    if (sheet.total >= t.challenge_at) {
        v.reason = "content-challenge";
        v.require_challenge = true;
    }
    co_return result(std::move(v));
}

}  // namespace hush::antispim

#include "server/mam/mam_queries.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "protocol/mam.hpp"
#include "protocol/text.hpp"

namespace hush {

namespace {

pugi::xml_node payload_of(const stanza& s) {
    for (auto c : s.element().children()) {
        if (c.type() == pugi::node_element) {
            return c;
        }
    }
    return {};
}

// Archive ids are decimal microseconds; anything else names no item.
std::optional<std::int64_t> parse_id(std::string_view text) { return parse_decimal<std::int64_t>(text); }

// The tighter of two optional bounds (`larger`: the larger one is tighter).
std::optional<std::int64_t> tighter(std::optional<std::int64_t> a, std::optional<std::int64_t> b, bool larger) {
    if (!a) {
        return b;
    }
    if (!b) {
        return a;
    }
    return larger ? std::max(*a, *b) : std::min(*a, *b);
}

// Bare JIDs, normalized; nullopt when one is not a JID.
std::optional<std::vector<std::string>> bare_jids(const std::vector<std::string>& jids) {
    std::vector<std::string> out;
    for (const auto& j : jids) {
        const auto parsed = jid::parse(j);
        if (!parsed) {
            return std::nullopt;
        }
        out.push_back(parsed->bare_string());
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

}  // namespace

mam_queries::mam_queries(const mam_config& cfg, storage::async_store& store, archiver& archive,
                         std::size_t page_bytes)
    : cfg_(cfg), store_(store), archive_(archive), page_bytes_(page_bytes) {}

const std::vector<std::string>& mam_queries::account_features() {
    static const std::vector<std::string> features{std::string(mam::ns), std::string(mam::ns_extended),
                                                   std::string(mam::sid_ns)};
    return features;
}

boost::asio::awaitable<std::optional<stanza>> mam_queries::handle_iq(const stanza& iq, const jid& addressed,
                                                                     outgoing& out) {
    const auto element = payload_of(iq);
    if (!cfg_.enabled || element.attribute("xmlns").value() != mam::ns) {
        co_return std::nullopt;
    }
    const auto requester = jid::parse(iq.from());
    // XEP-0313 §5: an account's archive is its own. (A query to the server's domain has no archive to answer.)
    // Anyone else gets what a missing account answers (RFC 6121 §8.5.1), not <forbidden/>: that would tell an
    // existing account from a missing one.
    if (!addressed.has_node() || !requester || !requester->equals_bare(addressed)) {
        co_return make_error_reply(iq, "service-unavailable");
    }
    const std::string_view name = element.name();
    if (name == std::string_view("query")) {
        if (iq.type() == "get") {
            stanza reply = make_iq_result(iq);
            mam::append_query_form(reply.element());
            co_return reply;
        }
        co_return co_await query(iq, element, addressed, *requester, out);
    }
    if (name == std::string_view("prefs")) {
        co_return co_await prefs(iq, element, addressed);
    }
    co_return make_error_reply(iq, "feature-not-implemented");
}

boost::asio::awaitable<stanza> mam_queries::room_query(const stanza& iq, const jid& room, const jid& requester,
                                                       bool local_requester, outgoing& out) {
    const auto element = payload_of(iq);
    if (!cfg_.enabled || std::string_view(element.name()) != "query") {
        co_return make_error_reply(iq, "feature-not-implemented");
    }
    if (iq.type() == "get") {
        stanza reply = make_iq_result(iq);
        mam::append_query_form(reply.element());
        co_return reply;
    }
    co_return co_await query(iq, element, room, requester, out, local_requester);
}

boost::asio::awaitable<stanza> mam_queries::query(const stanza& iq, pugi::xml_node element, const jid& account,
                                                  const jid& requester, outgoing& out, bool direct) {
    auto parsed = mam::parse_query(element);
    if (!parsed) {
        co_return make_error_reply(iq, "bad-request", parsed.error());
    }
    const mam::query& q = *parsed;
    storage::archive_query aq;
    if (!q.with.empty()) {
        const auto with = jid::parse(q.with);
        if (!with) {
            co_return make_error_reply(iq, "bad-request", "'with' is not a JID");
        }
        aq.with = with->bare_string();  // the archive knows parties by bare JID
    }
    aq.start = q.start;
    aq.end = q.end;
    // An id that is not one of ours names no item: <item-not-found/> (XEP-0059 §2.2, XEP-0313 §5.1.2).
    auto reference = [](const std::optional<std::string>& text) -> std::optional<std::optional<std::int64_t>> {
        if (!text) {
            return std::optional<std::int64_t>();
        }
        const auto id = parse_id(*text);
        if (!id) {
            return std::nullopt;
        }
        return std::optional<std::int64_t>(*id);
    };
    const auto after_id = reference(q.after_id);
    const auto rsm_after = reference(q.rsm.after);
    const auto before_id = reference(q.before_id);
    const bool last_page = q.rsm.before && q.rsm.before->empty();
    const auto rsm_before = reference(last_page ? std::nullopt : q.rsm.before);
    if (!after_id || !rsm_after || !before_id || !rsm_before) {
        co_return make_error_reply(iq, "item-not-found");
    }
    aq.after = tighter(*after_id, *rsm_after, true);
    aq.before = tighter(*before_id, *rsm_before, false);
    // Given both ways, both must name items, not only the tighter one (XEP-0059 §2.2).
    for (const auto& [a, b] : {std::pair{*after_id, *rsm_after}, std::pair{*before_id, *rsm_before}}) {
        if (a && b) {
            aq.references.push_back(*a);
            aq.references.push_back(*b);
        }
    }
    aq.backward = q.rsm.before.has_value();
    // Bounded like a page: more ids than a page holds is refused, not cut (the client would miss the rest).
    if (q.ids.size() > cfg_.max_page) {
        co_return make_error_reply(iq, "policy-violation",
                                   "at most " + std::to_string(cfg_.max_page) + " ids in one query");
    }
    for (const auto& text : q.ids) {
        const auto id = parse_id(text);
        if (!id) {
            co_return make_error_reply(iq, "bad-request", "'" + text + "' is not an archive id");
        }
        aq.ids.push_back(*id);
    }
    aq.max = std::min(q.rsm.max.value_or(cfg_.default_page), cfg_.max_page);
    aq.count = q.rsm.max == std::size_t{0};  // XEP-0059 §2.7: max 0 asks for the count alone
    // A page stops early (not complete) rather than overflow the session's outbox: the client pages on from the
    // last item (backward: the first) it got. The store stops reading there.
    aq.max_bytes = page_bytes_;
    aq.item_overhead = 400;  // what the wrapping adds to each archived message, about (result, forwarded, delay)

    // What the account was delivered is written before it is looked for; while the storage refuses the writer
    // the archive is not complete, and a page without what is queued would let the client page past it.
    if (!co_await archive_.flush()) {
        co_return make_error_reply(iq, "internal-server-error", "the archive is being written; try again later");
    }
    auto found = co_await store_.read([d = account.domain(), u = account.node(), aq](storage::store& st) {
        return st.query_archive(d, u, aq);
    });
    if (!found) {
        spdlog::error("mam: query of {} failed: {}", account.bare_string(), found.error().message);
        co_return make_error_reply(iq, "internal-server-error");
    }
    storage::archive_page page = std::move(*found);
    if (page.unknown_reference) {
        co_return make_error_reply(iq, "item-not-found");
    }
    for (const auto& item : page.items) {
        stanza m = mam::make_result_message(requester.full_string(), account.bare_string(), q.queryid,
                                            std::to_string(item.id), item.id, item.stanza);
        if (m.valid() && direct) {
            out.to_resource(requester, std::move(m));
        } else if (m.valid()) {
            out.route(std::move(m));  // a remote occupant's server delivers it
        }
    }
    mam::rsm_result set;
    if (!page.items.empty()) {
        set.first = std::to_string(page.items.front().id);
        set.last = std::to_string(page.items.back().id);
    }
    set.count = page.count;
    stanza reply = make_iq_result(iq);
    mam::append_fin(reply.element(), page.complete, set);
    co_return reply;
}

boost::asio::awaitable<stanza> mam_queries::prefs(const stanza& iq, pugi::xml_node element, const jid& account) {
    storage::archive_prefs stored;
    if (iq.type() == "set") {
        const auto asked = mam::parse_prefs(element);
        if (!asked) {
            co_return make_error_reply(iq, "bad-request", "default must be always, roster or never");
        }
        // Bounded: the lists are cached per account and searched on every archived message.
        if (asked->always.size() > max_prefs_jids || asked->never.size() > max_prefs_jids) {
            co_return make_error_reply(iq, "not-acceptable",
                                       "at most " + std::to_string(max_prefs_jids) + " JIDs in <always/> and in <never/>");
        }
        auto always = bare_jids(asked->always);
        auto never = bare_jids(asked->never);
        if (!always || !never) {
            co_return make_error_reply(iq, "jid-malformed");
        }
        stored.mode = storage::parse_archive_default(asked->default_mode).value_or(storage::archive_default::always);
        stored.always = std::move(*always);
        stored.never = std::move(*never);
        auto put = co_await store_.run([d = account.domain(), u = account.node(), stored](storage::store& st) {
            return st.put_archive_prefs(d, u, stored);
        });
        if (!put) {
            spdlog::error("mam: cannot store the preferences of {}: {}", account.bare_string(), put.error().message);
            co_return make_error_reply(iq, "internal-server-error");
        }
        archive_.prefs_changed(account, stored);
    } else {
        auto got = co_await store_.read([d = account.domain(), u = account.node()](storage::store& st) {
            return st.get_archive_prefs(d, u);
        });
        if (!got) {
            spdlog::error("mam: cannot read the preferences of {}: {}", account.bare_string(), got.error().message);
            co_return make_error_reply(iq, "internal-server-error");
        }
        stored = got->value_or(storage::archive_prefs{cfg_.default_mode, {}, {}});
    }
    mam::prefs answer;
    answer.default_mode = std::string(storage::to_string(stored.mode));
    answer.always = stored.always;
    answer.never = stored.never;
    stanza reply = make_iq_result(iq);
    mam::serialize_prefs(answer, reply.element());
    co_return reply;
}

}  // namespace hush

// The [antispim] section of hush.toml: the chain, the challenge defaults and every server-wide defence.
// conf/hush.toml documents each key and its default.
#include "server/config/config_antispim.hpp"

#include "antispim/blocklist.hpp"
#include "protocol/jid.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <set>
#include <string>
#include <system_error>

namespace hush::config_detail {
namespace {

constexpr std::array<std::string_view, 7> known_policies{"pass", "blocklist", "dos", "greylist", "rate", "content",
                                                         "challenge"};
constexpr std::array<std::string_view, 3> stranger_modes{"challenge", "allow", "drop"};  // as antispim::stranger_mode
constexpr std::array<std::string_view, 2> challenge_kinds{"code", "question"};  // as antispim::challenge_kind
constexpr std::array<std::string_view, 3> trust_levels{"block", "greylist", "challenge"};
constexpr std::array<std::string_view, 5> publish_sources{"admin", "dos", "consensus", "reports", "imports"};

class antispim_loader {
public:
    explicit antispim_loader(toml_reader& r) : r_(r) {}

    void load(const toml::table& root, config& c) {
        const toml::table* t = r_.section(root, "antispim");
        if (!t) {
            return;
        }
        r_.check_keys(*t, "antispim",
                      {"chain", "dry_run", "trust_local_users", "trusted_after_hours", "trusted_min_contacts",
                       "max_held_per_sender", "held_expiry_hours", "max_held_per_receiver",
                       "max_held_bytes_per_receiver", "max_held_total", "state_expiry_days", "contact_expiry_days",
                       "sweep_interval_seconds",
                       "challenge", "texts", "import", "rtbl", "dos", "greylist", "rate", "consensus", "outbound",
                       "publish", "content", "score"});
        antispim_config& a = c.antispim;
        r_.read_bool(*t, "antispim", "trust_local_users", a.trust_local_users);
        read_hours(*t, "antispim", "trusted_after_hours", a.trusted_after, 0);
        r_.read_int(*t, "antispim", "trusted_min_contacts", a.trusted_min_contacts, 0, 1000);
        r_.read_int(*t, "antispim", "max_held_per_sender", a.max_held_per_sender, 1, 1000);
        read_hours(*t, "antispim", "held_expiry_hours", a.held_expiry);
        r_.read_int(*t, "antispim", "max_held_per_receiver", a.max_held_per_receiver, 0, 1000000);
        r_.read_int(*t, "antispim", "max_held_bytes_per_receiver", a.max_held_bytes_per_receiver, 0,
                    std::int64_t{1} << 40);
        r_.read_int(*t, "antispim", "max_held_total", a.max_held_total, 0, 100000000);
        for (auto [key, out] : {std::pair{"state_expiry_days", &a.state_expiry}, std::pair{"contact_expiry_days", &a.contact_expiry}}) {
            std::int64_t days = out->count() / 24;
            if (r_.read_int(*t, "antispim", key, days, 0, 3650)) {
                *out = std::chrono::hours{days * 24};
            }
        }
        r_.read_seconds(*t, "antispim", "sweep_interval_seconds", a.sweep_interval);
        load_challenge(*t, a.challenge);
        load_texts(*t, a.wording);
        load_imports(*t, a.imports);
        load_rtbls(*t, a.rtbls);
        load_greylist(*t, a.greylist);
        if (const toml::table* dos = r_.section(*t, "antispim", "dos")) {
            r_.check_keys(*dos, "antispim.dos", {"distinct_receivers", "window_seconds", "block_hours",
                                                 "evidence_senders", "evidence_window_seconds", "suspect_tries"});
            r_.read_int(*dos, "antispim.dos", "suspect_tries", a.dos.suspect_tries, 0, 100);
            r_.read_int(*dos, "antispim.dos", "evidence_senders", a.dos.evidence_senders, 1, 1000);
            r_.read_seconds(*dos, "antispim.dos", "evidence_window_seconds", a.dos.evidence_window);
            r_.read_int(*dos, "antispim.dos", "distinct_receivers", a.dos.distinct_receivers, 2, 1000000);
            r_.read_seconds(*dos, "antispim.dos", "window_seconds", a.dos.window);
            read_hours(*dos, "antispim.dos", "block_hours", a.dos.block_for);
        }
        load_rate(*t, a.rate);
        load_consensus(*t, a.consensus);
        load_outbound(*t, a.outbound);
        load_publish(*t, a.publish);
        load_chain(*t, a);
    }

private:
    void read_hours(const toml::table& t, std::string_view prefix, std::string_view key, std::chrono::hours& out,
                    std::int64_t min_hours = 1) {
        std::int64_t hours = out.count();
        if (r_.read_int(t, prefix, key, hours, min_hours, 24 * 365)) {
            out = std::chrono::hours{hours};
        }
    }

    void load_chain(const toml::table& t, antispim_config& a) {
        if (const toml::array* chain = r_.read_string_list(t, "antispim", "chain", a.chain)) {
            std::string available;
            for (const std::string_view p : known_policies) {
                available += (available.empty() ? "" : ", ") + in_quotes(p);
            }
            std::set<std::string> seen;
            for (std::size_t i = 0; i < a.chain.size(); ++i) {
                const std::string& name = a.chain[i];
                const toml::source_region& where = chain->get(i)->source();
                const std::string key = indexed("antispim.chain", i);
                if (std::find(known_policies.begin(), known_policies.end(), name) == known_policies.end()) {
                    r_.fail(where, key, "unknown policy " + in_quotes(name) + " (available: " + available + ")");
                } else if (!seen.insert(name).second) {
                    r_.fail(where, key, "policy " + in_quotes(name) + " is listed twice");
                }
            }
        }
        const toml::array* dry_run = r_.read_string_list(t, "antispim", "dry_run", a.dry_run);
        for (std::size_t i = 0; r_.ok() && dry_run && i < a.dry_run.size(); ++i) {
            const std::string& name = a.dry_run[i];
            if (std::find(a.chain.begin(), a.chain.end(), name) == a.chain.end()) {
                r_.fail(dry_run->get(i)->source(), indexed("antispim.dry_run", i),
                        in_quotes(name) + " is not in antispim.chain");
            }
        }
    }

    void load_greylist(const toml::table& antispim, antispim_config::greylist_options& g) {
        const toml::table* grey = r_.section(antispim, "antispim", "greylist");
        if (!grey) {
            return;
        }
        const std::string_view p = "antispim.greylist";
        r_.check_keys(*grey, p, {"ranges", "ipv4_prefix", "ipv6_prefix", "retry_after_seconds"});
        if (const toml::array* ranges = r_.read_string_list(*grey, p, "ranges", g.ranges)) {
            for (std::size_t i = 0; i < g.ranges.size(); ++i) {
                const std::string& range = g.ranges[i];
                const auto slash = range.find('/');
                const auto address = canonical_ip(range.substr(0, slash));
                const bool v4 = address && address->find(':') == std::string::npos;
                unsigned bits = v4 ? 32 : 128;
                const bool prefix_ok =
                    slash == std::string::npos ||
                    (std::from_chars(range.data() + slash + 1, range.data() + range.size(), bits).ec == std::errc{} &&
                     bits <= (v4 ? 32u : 128u));
                if (!address || !prefix_ok) {
                    r_.fail(ranges->get(i)->source(), indexed("antispim.greylist.ranges", i),
                            in_quotes(range) + " is not an IP address or range (192.0.2.0/24, 2001:db8::/48)");
                }
            }
        }
        r_.read_int(*grey, p, "ipv4_prefix", g.ipv4_prefix, 8, 32);
        r_.read_int(*grey, p, "ipv6_prefix", g.ipv6_prefix, 16, 128);
        r_.read_seconds(*grey, p, "retry_after_seconds", g.retry_after);
    }

    // "10/min": at most 10, refilled over a minute; "off" (or "0/min"): no limit.
    void read_rate(const toml::table& t, std::string_view prefix, std::string_view key,
                   antispim_config::rate_limit& out) {
        std::string text;
        const toml::node* node = r_.read_string(t, prefix, key, text);
        if (!node) {
            return;
        }
        if (text == "off") {
            out.count = 0;
            return;
        }
        const auto slash = text.find('/');
        std::uint32_t count = 0;
        const bool count_ok = slash != std::string::npos &&
                              std::from_chars(text.data(), text.data() + slash, count).ec == std::errc{} &&
                              std::to_string(count) == text.substr(0, slash);
        const std::string unit = slash == std::string::npos ? "" : text.substr(slash + 1);
        static const std::array<std::pair<std::string_view, std::int64_t>, 4> units{
            {{"s", 1}, {"min", 60}, {"h", 3600}, {"d", 86400}}};
        const auto u = std::find_if(units.begin(), units.end(), [&](const auto& x) { return x.first == unit; });
        if (!count_ok || u == units.end()) {
            r_.fail(node->source(), join(prefix, key),
                    in_quotes(text) + " is not a rate: COUNT/UNIT with UNIT s, min, h or d (\"10/min\"), or \"off\"");
            return;
        }
        out.count = count;
        out.per = std::chrono::seconds{u->second};
    }

    void load_rate_limits(const toml::table& rate, std::string_view name, antispim_config::rate_limits& limits) {
        const toml::table* t = r_.section(rate, "antispim.rate", name);
        if (!t) {
            return;
        }
        const std::string p = "antispim.rate." + std::string(name);
        r_.check_keys(*t, p, {"sender", "domain", "ip", "receiver"});
        read_rate(*t, p, "sender", limits.sender);
        read_rate(*t, p, "domain", limits.domain);
        read_rate(*t, p, "ip", limits.ip);
        read_rate(*t, p, "receiver", limits.receiver);
    }

    void load_rate(const toml::table& antispim, antispim_config::rate_options& rate) {
        const toml::table* t = r_.section(antispim, "antispim", "rate");
        if (!t) {
            return;
        }
        r_.check_keys(*t, "antispim.rate", {"exceeded", "invites", "messages"});
        static constexpr std::array<std::string_view, 2> actions{"reject", "defer"};
        if (const auto i = r_.read_choice(*t, "antispim.rate", "exceeded", actions)) {
            rate.defer = *i == 1;
        }
        load_rate_limits(*t, "invites", rate.invites);
        load_rate_limits(*t, "messages", rate.messages);
    }

    void load_consensus(const toml::table& antispim, antispim_config::consensus_options& o) {
        const toml::table* t = r_.section(antispim, "antispim", "consensus");
        if (!t) {
            return;
        }
        const std::string_view p = "antispim.consensus";
        r_.check_keys(*t, p,
                      {"enabled", "dry_run", "users", "domain_senders", "domain_voters", "voter_min_age_hours",
                       "voter_min_contacts", "window_hours", "block_hours", "count_lockouts"});
        r_.read_bool(*t, p, "enabled", o.enabled);
        r_.read_bool(*t, p, "dry_run", o.dry_run);
        r_.read_int(*t, p, "users", o.users, 1, 1000000);
        r_.read_int(*t, p, "domain_senders", o.domain_senders, 1, 1000000);
        r_.read_int(*t, p, "domain_voters", o.domain_voters, 1, 1000000);
        read_hours(*t, p, "voter_min_age_hours", o.voter_min_age, 0);
        r_.read_int(*t, p, "voter_min_contacts", o.voter_min_contacts, 0, 10000);
        std::chrono::hours window = std::chrono::duration_cast<std::chrono::hours>(o.window);
        read_hours(*t, p, "window_hours", window);
        o.window = window;
        read_hours(*t, p, "block_hours", o.block_for);
        r_.read_bool(*t, p, "count_lockouts", o.count_lockouts);
    }

    void load_outbound(const toml::table& antispim, antispim_config::outbound_options& o) {
        const toml::table* t = r_.section(antispim, "antispim", "outbound");
        if (!t) {
            return;
        }
        const std::string_view p = "antispim.outbound";
        r_.check_keys(*t, p,
                      {"enabled", "dry_run", "window_seconds", "throttle_at", "suspend_at", "new_account_hours",
                       "new_throttle_at", "new_suspend_at"});
        r_.read_bool(*t, p, "enabled", o.enabled);
        r_.read_bool(*t, p, "dry_run", o.dry_run);
        r_.read_seconds(*t, p, "window_seconds", o.window);
        const toml::node* throttle = r_.read_int(*t, p, "throttle_at", o.throttle_at, 1, 1000000);
        const toml::node* suspend = r_.read_int(*t, p, "suspend_at", o.suspend_at, 1, 1000000);
        std::int64_t young = o.new_account.count();
        if (r_.read_int(*t, p, "new_account_hours", young, 0, 24 * 365)) {
            o.new_account = std::chrono::hours{young};
        }
        const toml::node* new_throttle = r_.read_int(*t, p, "new_throttle_at", o.new_throttle_at, 1, 1000000);
        const toml::node* new_suspend = r_.read_int(*t, p, "new_suspend_at", o.new_suspend_at, 1, 1000000);
        if (r_.ok() && o.suspend_at <= o.throttle_at) {
            r_.fail((suspend ? suspend : throttle ? throttle : static_cast<const toml::node*>(t))->source(),
                    join(p, "suspend_at"), "must be greater than throttle_at");
        }
        if (r_.ok() && o.new_suspend_at <= o.new_throttle_at) {
            r_.fail((new_suspend ? new_suspend : new_throttle ? new_throttle : static_cast<const toml::node*>(t))
                        ->source(),
                    join(p, "new_suspend_at"), "must be greater than new_throttle_at");
        }
    }

    void load_publish(const toml::table& antispim, antispim_config::publish_options& o) {
        const toml::table* t = r_.section(antispim, "antispim", "publish");
        if (!t) {
            return;
        }
        const std::string_view p = "antispim.publish";
        r_.check_keys(*t, p, {"sources", "hash_jids", "rtbl"});
        if (const toml::array* sources = r_.read_string_list(*t, p, "sources", o.sources)) {
            for (std::size_t i = 0; i < o.sources.size(); ++i) {
                if (std::find(publish_sources.begin(), publish_sources.end(), o.sources[i]) == publish_sources.end()) {
                    r_.fail(sources->get(i)->source(), indexed("antispim.publish.sources", i),
                            in_quotes(o.sources[i]) +
                                " is not a source (\"admin\", \"dos\", \"consensus\", \"reports\", \"imports\")");
                }
            }
        }
        r_.read_bool(*t, p, "hash_jids", o.hash_jids);
        r_.read_bool(*t, p, "rtbl", o.rtbl);  // checked against [pubsub] once that is read (config_pubsub.cpp)
    }

    void load_imports(const toml::table& antispim, std::vector<antispim_config::import_source>& out) {
        const toml::node* node = antispim.get("import");
        if (!node) {
            return;
        }
        const toml::array* array = node->as_array();
        if (!array || !array->is_array_of_tables()) {
            r_.fail(node->source(), "antispim.import", "expected an array of tables ([[antispim.import]] sections)");
            return;
        }
        static constexpr std::array<std::string_view, 2> formats{"hush", "domains"};
        for (std::size_t i = 0; i < array->size(); ++i) {
            const toml::table& t = *array->get(i)->as_table();
            const std::string prefix = indexed("antispim.import", i);
            r_.check_keys(t, prefix, {"url", "format", "interval_seconds", "trust", "evidence"});
            antispim_config::import_source source;
            const toml::node* url = r_.read_string(t, prefix, "url", source.url);
            if (!url) {
                r_.fail(t.source(), prefix, "url is required");
            } else if (!source.url.starts_with("http://") && !source.url.starts_with("https://")) {
                r_.fail(url->source(), join(prefix, "url"), "must start with https:// or http://");
            }
            if (const auto f = r_.read_choice(t, prefix, "format", formats)) {
                source.format = formats[*f];
            }
            r_.read_seconds(t, prefix, "interval_seconds", source.interval);
            if (const auto trust = r_.read_choice(t, prefix, "trust", trust_levels)) {
                source.trust = trust_levels[*trust];
            }
            if (const toml::array* kinds = r_.read_string_list(t, prefix, "evidence", source.evidence)) {
                const auto& known = antispim::evidence_kinds;
                for (std::size_t k = 0; k < source.evidence.size(); ++k) {
                    if (std::find(known.begin(), known.end(), source.evidence[k]) == known.end()) {
                        std::string names;
                        for (const auto name : known) {
                            names += (names.empty() ? "" : ", ") + in_quotes(name);
                        }
                        r_.fail(kinds->get(k)->source(), indexed(join(prefix, "evidence"), k),
                                in_quotes(source.evidence[k]) + " is not an evidence kind (" + names + ")");
                    }
                }
                // A plain list says nothing of its evidence: without "unknown" it would import nothing.
                if (source.format == "domains" && !source.evidence.empty() &&
                    std::find(source.evidence.begin(), source.evidence.end(), "unknown") == source.evidence.end()) {
                    r_.fail(kinds->source(), join(prefix, "evidence"),
                            "a \"domains\" list says nothing of its evidence: add \"unknown\", or leave evidence out");
                }
            }
            out.push_back(std::move(source));
        }
    }

    void load_rtbls(const toml::table& antispim, std::vector<antispim_config::rtbl_source>& out) {
        const toml::node* node = antispim.get("rtbl");
        if (!node) {
            return;
        }
        const toml::array* array = node->as_array();
        if (!array || !array->is_array_of_tables()) {
            r_.fail(node->source(), "antispim.rtbl", "expected an array of tables ([[antispim.rtbl]] sections)");
            return;
        }
        static constexpr std::array<std::string_view, 3> nodes{"spam_source_domains", "spam_source_jids_sha256",
                                                               "spam_source_ips"};
        for (std::size_t i = 0; i < array->size(); ++i) {
            const toml::table& t = *array->get(i)->as_table();
            const std::string prefix = indexed("antispim.rtbl", i);
            r_.check_keys(t, prefix, {"service", "nodes", "trust", "resync_seconds"});
            antispim_config::rtbl_source source;
            const toml::node* service = r_.read_string(t, prefix, "service", source.service);
            if (!service) {
                r_.fail(t.source(), prefix, "service is required (the pubsub service's JID)");
            } else if (auto j = jid::parse(source.service); !j || !j->is_bare()) {
                r_.fail(service->source(), join(prefix, "service"), in_quotes(source.service) + " is not a JID");
            } else {
                source.service = j->bare_string();
            }
            if (const toml::array* list = r_.read_string_list(t, prefix, "nodes", source.nodes)) {
                for (std::size_t n = 0; n < source.nodes.size(); ++n) {
                    if (std::find(nodes.begin(), nodes.end(), source.nodes[n]) == nodes.end()) {
                        r_.fail(list->get(n)->source(), indexed(join(prefix, "nodes"), n),
                                in_quotes(source.nodes[n]) + " is not a node Hush reads (spam_source_domains, "
                                                             "spam_source_jids_sha256, spam_source_ips)");
                    }
                }
            }
            if (const auto trust = r_.read_choice(t, prefix, "trust", trust_levels)) {
                source.trust = trust_levels[*trust];
            }
            r_.read_seconds(t, prefix, "resync_seconds", source.resync);
            out.push_back(std::move(source));
        }
    }

    void load_challenge(const toml::table& antispim, antispim::challenge_settings& ch) {
        const toml::table* t = r_.section(antispim, "antispim", "challenge");
        if (!t) {
            return;
        }
        const std::string_view p = "antispim.challenge";
        r_.check_keys(*t, p,
                      {"enabled", "strangers", "kind", "code_digits", "question", "good_answers", "wrong_answers",
                       "min_answer_seconds", "max_tries", "long_interval_minutes", "growth", "steps", "offered"});
        r_.read_bool(*t, p, "enabled", ch.enabled);
        if (const auto i = r_.read_choice(*t, p, "strangers", stranger_modes)) {
            ch.strangers = static_cast<antispim::stranger_mode>(*i);
        }
        if (const toml::node* q = r_.read_string(*t, p, "question", ch.question); q && ch.question.empty()) {
            r_.fail(q->source(), "antispim.challenge.question", "must not be empty");
        }
        if (const toml::array* good = r_.read_string_list(*t, p, "good_answers", ch.good_answers);
            good && ch.good_answers.empty()) {
            r_.fail(good->source(), "antispim.challenge.good_answers", "needs at least one answer");
        }
        if (const toml::array* wrong = r_.read_string_list(*t, p, "wrong_answers", ch.wrong_answers);
            wrong && ch.wrong_answers.empty()) {
            r_.fail(wrong->source(), "antispim.challenge.wrong_answers",
                    "needs at least one answer (bots would just pick any)");
        }
        // A configured question is what the admin means to ask (and what a config from before the kinds asked).
        ch.kind = t->contains("question") ? antispim::challenge_kind::question : antispim::challenge_kind::code;
        if (const auto i = r_.read_choice(*t, p, "kind", challenge_kinds)) {
            ch.kind = static_cast<antispim::challenge_kind>(*i);
        }
        if (ch.kind == antispim::challenge_kind::question) {
            // No question ships with Hush: one every installation asks is one a bot learns once (issue 16).
            for (const char* key : {"question", "good_answers", "wrong_answers"}) {
                if (!t->contains(key)) {
                    r_.fail(t->source(), std::string("antispim.challenge.") + key,
                            "is required with kind = \"question\" (your own question and its answers)");
                }
            }
        }
        r_.read_int(*t, p, "code_digits", ch.code_digits, 4, 12);
        std::int64_t min_answer = ch.min_answer.count();
        if (r_.read_int(*t, p, "min_answer_seconds", min_answer, 0, 3600)) {
            ch.min_answer = std::chrono::seconds{min_answer};
        }
        r_.read_int(*t, p, "max_tries", ch.max_tries, 1, 100);
        std::int64_t long_interval = ch.long_interval.count();
        if (r_.read_int(*t, p, "long_interval_minutes", long_interval, 1, 60 * 24 * 365)) {
            ch.long_interval = std::chrono::minutes{long_interval};
        }
        r_.read_int(*t, p, "growth", ch.growth, 1, 100);
        r_.read_int(*t, p, "steps", ch.steps, 1, 10);
        r_.read_int(*t, p, "offered", ch.offered, 2, 20);
    }

    // [antispim.texts]: the default language's texts; [antispim.texts.<language>]: another language's, each text
    // falling back to the default language's. Placeholders are checked here, so a typo fails at start-up.
    void load_texts(const toml::table& antispim, antispim::challenge_wording& wording) {
        const toml::table* t = r_.section(antispim, "antispim", "texts");
        if (!t) {
            return;
        }
        const std::string_view p = "antispim.texts";
        if (const toml::node* lang = r_.read_string(*t, p, "language", wording.default_language);
            lang && !is_language_tag(wording.default_language)) {
            r_.fail(lang->source(), "antispim.texts.language", "must be a language tag such as \"en\" or \"pt-BR\"");
        }
        wording.default_language = lower(wording.default_language);
        read_text_table(*t, p, wording.defaults, true);
        for (const auto& [key, node] : *t) {
            const toml::table* other = node.as_table();
            if (!other) {
                continue;
            }
            const std::string tag(key.str());
            const std::string prefix = join(p, tag);
            if (!is_language_tag(tag)) {
                r_.fail(node.source(), prefix, "must be named by a language tag such as \"de\" or \"pt-BR\"");
                continue;
            }
            antispim::challenge_texts texts = wording.defaults;
            read_text_table(*other, prefix, texts, false);
            wording.languages[lower(tag)] = std::move(texts);
        }
    }

    void read_text_table(const toml::table& t, std::string_view prefix, antispim::challenge_texts& texts,
                         bool with_languages) {
        for (const auto& [key, node] : t) {
            if (node.is_table() && with_languages) {
                continue;  // another language
            }
            const std::string_view name = key.str();
            if (with_languages && name == "language") {
                continue;
            }
            const auto* field = std::find_if(antispim::challenge_text_fields.begin(),
                                             antispim::challenge_text_fields.end(),
                                             [&](const auto& f) { return f.key == name; });
            const std::string full = join(prefix, name);
            if (field == antispim::challenge_text_fields.end()) {
                std::string known = with_languages ? "language" : "";
                for (const auto& f : antispim::challenge_text_fields) {
                    known += (known.empty() ? "" : ", ") + std::string(f.key);
                }
                r_.fail(node.source(), full, "is not a text of the challenge (known: " + known + ")");
                continue;
            }
            std::string& out = texts.*(field->member);
            if (!r_.read_string(t, prefix, name, out)) {
                continue;
            }
            if (out.size() > 2000) {
                r_.fail(node.source(), full, "is longer than 2000 characters");
            } else if (field->member == &antispim::challenge_texts::digits && antispim::digit_words(out).size() != 10) {
                r_.fail(node.source(), full, "must be the ten words for 0 to 9, separated by spaces");
            } else if (auto bad = antispim::unknown_placeholder(out, field->placeholders)) {
                r_.fail(node.source(), full,
                        "unknown placeholder " + *bad +
                            (field->placeholders.empty() ? std::string("; this text takes none")
                                                         : "; this text may use {" +
                                                               replace_spaces(field->placeholders) + "}"));
            }
        }
    }

    static std::string replace_spaces(std::string_view names) {
        std::string out;
        for (char c : names) {
            out += c == ' ' ? std::string("}, {") : std::string(1, c);
        }
        return out;
    }

    static std::string lower(std::string s) {
        for (char& c : s) {
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        return s;
    }

    // BCP 47 in its common shape: letters, digits and hyphens, starting with 2–8 letters, at most 35 characters.
    static bool is_language_tag(std::string_view tag) {
        if (tag.empty() || tag.size() > 35 || !std::isalpha(static_cast<unsigned char>(tag[0]))) {
            return false;
        }
        const std::size_t primary = std::min(tag.find('-'), tag.size());
        return primary >= 2 && primary <= 8 && std::all_of(tag.begin(), tag.end(), [](char c) {
                   return std::isalnum(static_cast<unsigned char>(c)) || c == '-';
               });
    }

    toml_reader& r_;
};

}  // namespace

void load_antispim(toml_reader& reader, const toml::table& root, config& c, const std::filesystem::path& dir) {
    antispim_loader(reader).load(root, c);
    if (const toml::table* t = reader.ok() ? reader.section(root, "antispim") : nullptr) {
        load_content(reader, *t, c.antispim, dir);
    }
}

}  // namespace hush::config_detail

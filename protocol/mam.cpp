#include "protocol/mam.hpp"

#include <cstdio>

#include "protocol/jid.hpp"
#include "protocol/namespaces.hpp"
#include "protocol/text.hpp"

namespace hush::mam {

namespace {

pugi::xml_node add(pugi::xml_node parent, const char* name, std::string_view element_ns = {}) {
    auto node = parent.append_child(name);
    if (!element_ns.empty()) {
        node.append_attribute("xmlns").set_value(std::string(element_ns).c_str());
    }
    return node;
}

void add_text(pugi::xml_node parent, const char* name, std::string_view text) {
    add(parent, name).append_child(pugi::node_pcdata).set_value(std::string(text).c_str());
}

pugi::xml_node child_ns(pugi::xml_node parent, std::string_view name, std::string_view element_ns) {
    for (auto c : parent.children()) {
        if (c.type() == pugi::node_element && c.name() == name && c.attribute("xmlns").value() == element_ns) {
            return c;
        }
    }
    return {};
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
    y -= m <= 2 ? 1 : 0;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool leap_year(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

// Days in month `m` (1-12) of year `y`.
int days_in_month(int y, int m) {
    static constexpr int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && leap_year(y) ? 29 : days[m - 1];
}

std::optional<int> digits(std::string_view text, std::size_t at, std::size_t n) {
    if (at + n > text.size()) {
        return std::nullopt;
    }
    int value = 0;
    for (std::size_t i = at; i < at + n; ++i) {
        if (text[i] < '0' || text[i] > '9') {
            return std::nullopt;
        }
        value = value * 10 + (text[i] - '0');
    }
    return value;
}

}  // namespace

std::optional<std::int64_t> parse_datetime(std::string_view t) {
    // CCYY-MM-DDThh:mm:ss[.sss]TZD
    const auto year = digits(t, 0, 4);
    const auto month = digits(t, 5, 2);
    const auto day = digits(t, 8, 2);
    const auto hour = digits(t, 11, 2);
    const auto minute = digits(t, 14, 2);
    const auto second = digits(t, 17, 2);
    if (!year || !month || !day || !hour || !minute || !second || t[4] != '-' || t[7] != '-' || t[10] != 'T' ||
        t[13] != ':' || t[16] != ':' || *month < 1 || *month > 12 || *day < 1 || *day > 31 || *hour > 23 ||
        *minute > 59 || *second > 60 || *day > days_in_month(*year, *month)) {
        return std::nullopt;  // also Feb 31, Feb 29 of a common year, Apr 31
    }
    std::size_t at = 19;
    std::int64_t micros = 0;
    if (at < t.size() && t[at] == '.') {
        ++at;
        std::int64_t scale = 100000;
        const std::size_t first = at;
        while (at < t.size() && t[at] >= '0' && t[at] <= '9') {
            micros += (t[at] - '0') * scale;  // digits past the microsecond add nothing
            scale /= 10;
            ++at;
        }
        if (at == first) {
            return std::nullopt;
        }
    }
    std::int64_t offset_seconds = 0;
    if (at < t.size() && t[at] == 'Z') {
        ++at;
    } else if (at < t.size() && (t[at] == '+' || t[at] == '-')) {
        const auto oh = digits(t, at + 1, 2);
        const auto om = digits(t, at + 4, 2);
        if (!oh || !om || t[at + 3] != ':' || *oh > 23 || *om > 59) {
            return std::nullopt;
        }
        offset_seconds = (t[at] == '+' ? 1 : -1) * (*oh * 3600 + *om * 60);
        at += 6;
    } else {
        return std::nullopt;  // XEP-0082 requires the zone
    }
    if (at != t.size()) {
        return std::nullopt;
    }
    const std::int64_t seconds = days_from_civil(*year, static_cast<unsigned>(*month), static_cast<unsigned>(*day)) *
                                     86400 +
                                 *hour * 3600 + *minute * 60 + *second - offset_seconds;
    return seconds * 1000000 + micros;
}

std::string format_datetime(std::int64_t unix_us) {
    std::int64_t seconds = unix_us / 1000000;
    std::int64_t micros = unix_us % 1000000;
    if (micros < 0) {
        micros += 1000000;
        --seconds;
    }
    std::int64_t days = seconds / 86400;
    std::int64_t rest = seconds % 86400;
    if (rest < 0) {
        rest += 86400;
        --days;
    }
    // civil_from_days
    days += 719468;
    const std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    const auto doe = static_cast<unsigned>(days - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned d = doy - (153 * mp + 2) / 5 + 1;
    const unsigned m = mp < 10 ? mp + 3 : mp - 9;
    const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0);
    char buffer[48];
    if (micros == 0) {
        std::snprintf(buffer, sizeof buffer, "%04lld-%02u-%02uT%02lld:%02lld:%02lldZ", static_cast<long long>(y), m, d,
                      static_cast<long long>(rest / 3600), static_cast<long long>(rest / 60 % 60),
                      static_cast<long long>(rest % 60));
    } else {
        std::snprintf(buffer, sizeof buffer, "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%06lldZ",
                      static_cast<long long>(y), m, d, static_cast<long long>(rest / 3600),
                      static_cast<long long>(rest / 60 % 60), static_cast<long long>(rest % 60),
                      static_cast<long long>(micros));
    }
    return buffer;
}

std::optional<rsm_request> parse_rsm(pugi::xml_node set) {
    rsm_request r;
    for (auto c : set.children()) {
        if (c.type() != pugi::node_element) {
            continue;
        }
        const std::string_view name = c.name();
        const std::string_view text = c.child_value();
        if (name == "max") {
            r.max = parse_decimal<std::size_t>(text);
            if (!r.max) {
                return std::nullopt;
            }
        } else if (name == "after") {
            if (text.empty()) {
                return std::nullopt;  // XEP-0059 §2.2: <after/> names an item
            }
            r.after = std::string(text);
        } else if (name == "before") {
            r.before = std::string(text);
        } else if (name == "index") {
            return std::nullopt;  // not supported: paging is by id only
        }
    }
    return r;
}

void serialize_rsm_request(const rsm_request& r, pugi::xml_node parent) {
    auto set = add(parent, "set", rsm_ns);
    if (r.max) {
        add_text(set, "max", std::to_string(*r.max));
    }
    if (r.after) {
        add_text(set, "after", *r.after);
    }
    if (r.before) {
        if (r.before->empty()) {
            add(set, "before");
        } else {
            add_text(set, "before", *r.before);
        }
    }
}

void serialize_rsm_result(const rsm_result& r, pugi::xml_node parent) {
    auto set = add(parent, "set", rsm_ns);
    if (!r.first.empty()) {
        auto first = add(set, "first");
        if (r.first_index) {
            first.append_attribute("index").set_value(std::to_string(*r.first_index).c_str());
        }
        first.append_child(pugi::node_pcdata).set_value(r.first.c_str());
        add_text(set, "last", r.last);
    }
    if (r.count) {
        add_text(set, "count", std::to_string(*r.count));
    }
}

std::optional<rsm_result> parse_rsm_result(pugi::xml_node set) {
    if (!set) {
        return std::nullopt;
    }
    rsm_result r;
    r.first = set.child_value("first");
    r.last = set.child_value("last");
    if (auto index = set.child("first").attribute("index")) {
        r.first_index = parse_decimal<std::size_t>(index.value());
    }
    if (set.child("count")) {
        r.count = parse_decimal<std::int64_t>(set.child_value("count"));
    }
    return r;
}

hush::expected<query, std::string> parse_query(pugi::xml_node element) {
    query q;
    q.queryid = element.attribute("queryid").value();
    if (auto form = child_ns(element, "x", data_forms_ns)) {
        const std::string_view type = form.attribute("type").value();
        if (type != "submit") {
            return unexpected(std::string("the form must be of type submit"));
        }
        bool typed = false;
        for (auto field : form.children("field")) {
            const std::string_view var = field.attribute("var").value();
            const std::string value = field.child_value("value");
            if (var == "FORM_TYPE") {
                if (value != ns) {
                    return unexpected(std::string("FORM_TYPE must be urn:xmpp:mam:2"));
                }
                typed = true;
            } else if (var == "with") {
                q.with = value;
            } else if (var == "start" || var == "end") {
                const auto at = parse_datetime(value);
                if (!at) {
                    return unexpected(std::string(var) + " is not an XEP-0082 date-time");
                }
                (var == "start" ? q.start : q.end) = at;
            } else if (var == "after-id") {
                q.after_id = value;
            } else if (var == "before-id") {
                q.before_id = value;
            } else if (var == "ids") {
                for (auto v : field.children("value")) {
                    q.ids.emplace_back(v.child_value());
                }
            } else {
                return unexpected("unknown field " + std::string(var));
            }
        }
        if (!typed) {
            return unexpected(std::string("the form has no FORM_TYPE"));
        }
    }
    if (auto set = child_ns(element, "set", rsm_ns)) {
        auto rsm = parse_rsm(set);
        if (!rsm) {
            return unexpected(std::string("bad result set request"));
        }
        q.rsm = std::move(*rsm);
    }
    return q;
}

namespace {

void add_field(pugi::xml_node form, const char* var, std::string_view value, const char* type = nullptr) {
    auto field = add(form, "field");
    field.append_attribute("var").set_value(var);
    if (type != nullptr) {
        field.append_attribute("type").set_value(type);
    }
    if (!value.empty()) {
        add_text(field, "value", value);
    }
}

}  // namespace

void serialize_query(const query& q, pugi::xml_node parent) {
    auto element = add(parent, "query", ns);
    if (!q.queryid.empty()) {
        element.append_attribute("queryid").set_value(q.queryid.c_str());
    }
    const bool fields = !q.with.empty() || q.start || q.end || q.after_id || q.before_id || !q.ids.empty();
    if (fields) {
        auto form = add(element, "x", data_forms_ns);
        form.append_attribute("type").set_value("submit");
        add_field(form, "FORM_TYPE", ns, "hidden");
        if (!q.with.empty()) {
            add_field(form, "with", q.with);
        }
        if (q.start) {
            add_field(form, "start", format_datetime(*q.start));
        }
        if (q.end) {
            add_field(form, "end", format_datetime(*q.end));
        }
        if (q.after_id) {
            add_field(form, "after-id", *q.after_id);
        }
        if (q.before_id) {
            add_field(form, "before-id", *q.before_id);
        }
        if (!q.ids.empty()) {
            auto field = add(form, "field");
            field.append_attribute("var").set_value("ids");
            for (const auto& id : q.ids) {
                add_text(field, "value", id);
            }
        }
    }
    if (q.rsm.max || q.rsm.after || q.rsm.before) {
        serialize_rsm_request(q.rsm, element);
    }
}

void append_query_form(pugi::xml_node parent) {
    auto element = add(parent, "query", ns);
    auto form = add(element, "x", data_forms_ns);
    form.append_attribute("type").set_value("form");
    add_field(form, "FORM_TYPE", ns, "hidden");
    add_field(form, "with", {}, "jid-single");
    add_field(form, "start", {}, "text-single");
    add_field(form, "end", {}, "text-single");
    add_field(form, "after-id", {}, "text-single");
    add_field(form, "before-id", {}, "text-single");
    add_field(form, "ids", {}, "text-multi");
}

void append_fin(pugi::xml_node parent, bool complete, const rsm_result& set) {
    auto fin = add(parent, "fin", ns);
    if (complete) {
        fin.append_attribute("complete").set_value("true");
    }
    serialize_rsm_result(set, fin);
}

stanza make_result_message(std::string_view to, std::string_view from, std::string_view queryid, std::string_view id,
                           std::int64_t archived_at_us, std::string_view archived) {
    pugi::xml_document inner;
    if (!inner.load_buffer(archived.data(), archived.size()) || !inner.first_child()) {
        return stanza();
    }
    stanza m = stanza::make("message");
    m.set_attribute("to", to);
    m.set_attribute("from", from);
    auto result = add(m.element(), "result", ns);
    if (!queryid.empty()) {
        result.append_attribute("queryid").set_value(std::string(queryid).c_str());
    }
    result.append_attribute("id").set_value(std::string(id).c_str());
    auto forwarded = add(result, "forwarded", forward_ns);
    auto delay = add(forwarded, "delay", ns::delay);
    delay.append_attribute("stamp").set_value(format_datetime(archived_at_us).c_str());
    auto copy = forwarded.append_copy(inner.first_child());
    if (!copy.attribute("xmlns")) {
        copy.prepend_attribute("xmlns").set_value(ns::client.data());
    }
    return m;
}

std::optional<prefs> parse_prefs(pugi::xml_node element) {
    prefs p;
    p.default_mode = element.attribute("default").value();
    if (p.default_mode != "always" && p.default_mode != "roster" && p.default_mode != "never") {
        return std::nullopt;
    }
    for (auto [list, name] : {std::pair{&p.always, "always"}, std::pair{&p.never, "never"}}) {
        for (auto j : element.child(name).children("jid")) {
            list->emplace_back(j.child_value());
        }
    }
    return p;
}

void serialize_prefs(const prefs& p, pugi::xml_node parent) {
    auto element = add(parent, "prefs", ns);
    element.append_attribute("default").set_value(p.default_mode.c_str());
    for (auto [list, name] : {std::pair{&p.always, "always"}, std::pair{&p.never, "never"}}) {
        auto node = add(element, name);
        for (const auto& j : *list) {
            add_text(node, "jid", j);
        }
    }
}

namespace {

// Whether a stanza-id's `by` may name `account` (a bare JID, normalized): compared as normalized bare JIDs, so
// 'Victim@Example.COM/x' is the victim's. A `by` that is no JID is the account's unless its bare part provably
// names someone else: whoever wrote it may be trying to slip one past a client that is less strict.
bool may_claim(std::string_view by, const jid& account) {
    if (const auto parsed = jid::parse(by)) {
        return parsed->equals_bare(account);
    }
    const auto bare = jid::parse(by.substr(0, by.find('/')));
    return !bare || bare->equals_bare(account);
}

}  // namespace

std::size_t strip_stanza_ids(const stanza& message, std::string_view by) {
    const auto account = jid::parse(by);
    std::size_t removed = 0;
    auto element = message.element();
    for (auto c = element.first_child(); c;) {
        auto next = c.next_sibling();
        if (c.type() == pugi::node_element && std::string_view(c.name()) == "stanza-id" &&
            c.attribute("xmlns").value() == sid_ns) {
            const std::string_view claimed = c.attribute("by").value();
            if (account ? may_claim(claimed, *account) : claimed == by) {
                element.remove_child(c);
                ++removed;
            }
        }
        c = next;
    }
    return removed;
}

std::string stanza_id(const stanza& message, std::string_view by) {
    for (auto c : message.element().children("stanza-id")) {
        if (c.attribute("xmlns").value() == sid_ns && c.attribute("by").value() == by) {
            return c.attribute("id").value();
        }
    }
    return {};
}

void add_stanza_id(const stanza& message, std::string_view by, std::string_view id) {
    auto sid = add(message.element(), "stanza-id", sid_ns);
    sid.append_attribute("by").set_value(std::string(by).c_str());
    sid.append_attribute("id").set_value(std::string(id).c_str());
}

}  // namespace hush::mam

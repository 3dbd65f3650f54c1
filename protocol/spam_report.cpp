#include "protocol/spam_report.hpp"

namespace hush {

namespace {

constexpr std::string_view sid_ns = "urn:xmpp:sid:0";

bool in_ns(pugi::xml_node n, std::string_view ns) {
    return ns == n.attribute("xmlns").value();
}

}  // namespace

std::string spam_report_payload::short_reason() const {
    if (reason == reporting_spam) {
        return "spam";
    }
    if (reason == reporting_abuse) {
        return "abuse";
    }
    return reason;
}

std::string spam_report_payload::joined_text() const {
    std::string out;
    for (const auto& t : texts) {
        out += (out.empty() ? "" : "\n") + t.text;
    }
    return out;
}

std::optional<spam_report_payload> parse_spam_report(pugi::xml_node item) {
    for (auto report : item.children("report")) {
        const bool v1 = in_ns(report, reporting_ns);
        if (!v1 && !in_ns(report, reporting_ns_0)) {
            continue;
        }
        spam_report_payload out;
        out.reason = report.attribute("reason").value();
        for (auto child : report.children()) {
            if (child.type() != pugi::node_element) {
                continue;
            }
            const std::string_view name = child.name();
            if (name == "stanza-id" && in_ns(child, sid_ns)) {
                const std::string id = child.attribute("id").value();
                if (!id.empty() && id.find('\n') == std::string::npos) {
                    out.stanza_ids.push_back({child.attribute("by").value(), id});
                }
            } else if (name == "text") {
                out.texts.push_back({child.attribute("xml:lang").value(), child.text().get()});
            } else if (name == "report-origin") {
                out.report_origin = true;
            } else if (name == "third-party") {
                out.third_party = true;
            } else if (!v1 && out.reason.empty() && (name == "spam" || name == "abuse")) {
                out.reason = name == "spam" ? reporting_spam : reporting_abuse;
            }
        }
        if (out.reason.empty()) {
            out.reason = reporting_spam;
        }
        return out;
    }
    return std::nullopt;
}

void serialize_spam_report(const spam_report_payload& report, pugi::xml_node parent) {
    auto r = parent.append_child("report");
    r.append_attribute("xmlns").set_value(std::string(reporting_ns).c_str());
    r.append_attribute("reason").set_value(report.reason.c_str());
    for (const auto& id : report.stanza_ids) {
        auto s = r.append_child("stanza-id");
        s.append_attribute("xmlns").set_value(std::string(sid_ns).c_str());
        s.append_attribute("by").set_value(id.by.c_str());
        s.append_attribute("id").set_value(id.id.c_str());
    }
    for (const auto& t : report.texts) {
        auto text = r.append_child("text");
        if (!t.lang.empty()) {
            text.append_attribute("xml:lang").set_value(t.lang.c_str());
        }
        text.text().set(t.text.c_str());
    }
    if (report.report_origin) {
        r.append_child("report-origin");
    }
    if (report.third_party) {
        r.append_child("third-party");
    }
}

}  // namespace hush

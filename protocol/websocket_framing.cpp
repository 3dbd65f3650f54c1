#include "protocol/websocket_framing.hpp"

#include <optional>
#include <utility>

namespace hush::websocket_framing {

namespace {

constexpr std::string_view streams_ns = "http://etherx.jabber.org/streams";
constexpr std::size_t npos = std::string_view::npos;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::size_t skip_space(std::string_view s, std::size_t pos) {
    while (pos < s.size() && is_space(s[pos])) {
        ++pos;
    }
    return pos;
}

// The end of the tag starting at `pos` ('<'), one past its '>', or npos; quoted values may hold '>'.
std::size_t tag_end(std::string_view s, std::size_t pos) {
    char quote = 0;
    for (std::size_t i = pos + 1; i < s.size(); ++i) {
        const char c = s[i];
        if (quote != 0) {
            if (c == quote) {
                quote = 0;
            }
        } else if (c == '\'' || c == '"') {
            quote = c;
        } else if (c == '>') {
            return i + 1;
        }
    }
    return npos;
}

struct attribute {
    std::string_view name;
    std::string_view value;  // as written (entities unexpanded)
    char quote = '\'';
};

// The name and attributes of the start tag s[pos, end).
std::string_view tag_name(std::string_view tag) {
    std::size_t i = 1;
    while (i < tag.size() && !is_space(tag[i]) && tag[i] != '>' && tag[i] != '/') {
        ++i;
    }
    return tag.substr(1, i - 1);
}

std::optional<std::vector<attribute>> attributes(std::string_view tag) {
    std::vector<attribute> out;
    std::size_t i = 1 + tag_name(tag).size();
    for (;;) {
        i = skip_space(tag, i);
        if (i >= tag.size() || tag[i] == '>' || tag[i] == '/') {
            return out;
        }
        const std::size_t name_start = i;
        while (i < tag.size() && !is_space(tag[i]) && tag[i] != '=') {
            ++i;
        }
        attribute a;
        a.name = tag.substr(name_start, i - name_start);
        i = skip_space(tag, i);
        if (i >= tag.size() || tag[i] != '=') {
            return std::nullopt;
        }
        i = skip_space(tag, i + 1);
        if (i >= tag.size() || (tag[i] != '\'' && tag[i] != '"')) {
            return std::nullopt;
        }
        a.quote = tag[i];
        const std::size_t close = tag.find(a.quote, i + 1);
        if (close == npos) {
            return std::nullopt;
        }
        a.value = tag.substr(i + 1, close - i - 1);
        out.push_back(a);
        i = close + 1;
    }
}

// `value` re-quoted with single quotes.
std::string single_quoted(const attribute& a) {
    std::string out = "'";
    for (const char c : a.value) {
        if (c == '\'') {
            out += "&apos;";
        } else {
            out += c;
        }
    }
    return out + "'";
}

bool has_default_namespace(const std::vector<attribute>& attrs) {
    for (const auto& a : attrs) {
        if (a.name == "xmlns") {
            return true;
        }
    }
    return false;
}

inbound failure(std::string condition, std::string text) {
    inbound r;
    r.condition = std::move(condition);
    r.text = std::move(text);
    return r;
}

}  // namespace

std::size_t construct_end(std::string_view s, std::size_t pos) {
    if (pos >= s.size() || s[pos] != '<') {
        return npos;
    }
    if (s.substr(pos, 4) == "<!--") {
        const auto end = s.find("-->", pos + 4);
        return end == npos ? npos : end + 3;
    }
    if (s.substr(pos, 9) == "<![CDATA[") {
        const auto end = s.find("]]>", pos + 9);
        return end == npos ? npos : end + 3;
    }
    if (s.substr(pos, 2) == "<?") {
        const auto end = s.find("?>", pos + 2);
        return end == npos ? npos : end + 2;
    }
    std::size_t depth = 0;
    std::size_t i = pos;
    while (i < s.size()) {
        if (s[i] != '<') {
            i = s.find('<', i);
            if (i == npos) {
                return npos;
            }
            continue;
        }
        if (s.substr(i, 4) == "<!--" || s.substr(i, 9) == "<![CDATA[" || s.substr(i, 2) == "<?") {
            const auto end = construct_end(s, i);
            if (end == npos) {
                return npos;
            }
            i = end;
            continue;
        }
        const auto end = tag_end(s, i);
        if (end == npos) {
            return npos;
        }
        if (s[i + 1] == '/') {
            if (depth == 0) {
                return npos;  // an end tag with nothing open: not an element
            }
            --depth;
        } else if (s[end - 2] != '/') {
            ++depth;
        }
        i = end;
        if (depth == 0) {
            return i;
        }
    }
    return npos;
}

inbound from_client(std::string_view message, std::string_view content_ns) {
    std::size_t start = skip_space(message, 0);
    // An XML declaration may lead a message that is a document of its own.
    if (message.substr(start, 5) == "<?xml") {
        const auto end = construct_end(message, start);
        if (end == npos) {
            return failure("bad-format", "an incomplete XML declaration");
        }
        start = skip_space(message, end);
    }
    if (start >= message.size() || message[start] != '<' || message.substr(start, 2) == "</") {
        return failure("bad-format", "a WebSocket message must hold one complete XML element (RFC 7395 §3.3.3)");
    }
    const auto end = construct_end(message, start);
    if (end == npos || message.substr(start, 2) == "<!" || message.substr(start, 2) == "<?") {
        return failure("bad-format", "a WebSocket message must hold one complete XML element (RFC 7395 §3.3.3)");
    }
    if (skip_space(message, end) != message.size()) {
        return failure("bad-format", "a WebSocket message must hold exactly one XML element (RFC 7395 §3.3.3)");
    }
    const std::string_view element = message.substr(start, end - start);
    const std::string_view name = tag_name(element);
    if (name != "open" && name != "close") {
        inbound r;
        r.what = inbound::kind::element;
        r.bytes.assign(element);
        return r;
    }
    const auto start_tag_end = tag_end(element, 0);
    const auto attrs = attributes(element.substr(0, start_tag_end));
    if (!attrs) {
        return failure("not-well-formed", "a malformed attribute");
    }
    std::string_view xmlns;
    for (const auto& a : *attrs) {
        if (a.name == "xmlns") {
            xmlns = a.value;
        }
    }
    if (xmlns != framing_ns) {
        // Nothing else is <open/> or <close/> at the top level: a stream header in the wrong namespace
        // (RFC 6120 §4.9.3.10, as a wrong stream:stream would be).
        return failure("invalid-namespace", "<open/> and <close/> are in urn:ietf:params:xml:ns:xmpp-framing");
    }
    inbound r;
    if (name == "close") {
        r.what = inbound::kind::close;
        r.bytes = "</stream:stream>";
        return r;
    }
    r.what = inbound::kind::open;
    r.bytes = "<stream:stream xmlns='" + std::string(content_ns) + "' xmlns:stream='" + std::string(streams_ns) + "'";
    for (const auto& a : *attrs) {
        if (a.name == "to" || a.name == "from" || a.name == "version" || a.name == "xml:lang" || a.name == "id") {
            r.bytes += " " + std::string(a.name) + "=" + single_quoted(a);
        }
    }
    r.bytes += ">";
    return r;
}

bool outbound_splitter::push(std::string_view bytes, std::vector<std::string>& messages) {
    // Whole elements (the usual case) are cut from the input itself; only an incomplete tail is copied.
    std::string joined;
    std::string_view s = bytes;
    if (!pending_.empty()) {
        joined = std::move(pending_) + std::string(bytes);
        pending_ = std::string();
        s = joined;
    }
    std::size_t pos = 0;
    while (true) {
        pos = s.find('<', pos);
        if (pos == npos) {
            pos = s.size();  // whitespace (keepalives) between elements: a WebSocket has pings of its own
            break;
        }
        if (s.substr(pos, 14) == "<stream:stream") {
            const auto end = tag_end(s, pos);
            if (end == npos) {
                break;
            }
            std::string open = "<open xmlns='" + std::string(framing_ns) + "'";
            if (const auto attrs = attributes(s.substr(pos, end - pos))) {
                for (const auto& a : *attrs) {
                    if (!a.name.starts_with("xmlns")) {
                        open += " " + std::string(a.name) + "=" + single_quoted(a);
                    }
                }
            }
            messages.push_back(open + "/>");
            pos = end;
            continue;
        }
        if (s.substr(pos, 16) == "</stream:stream>") {
            messages.push_back("<close xmlns='" + std::string(framing_ns) + "'/>");
            pos += 16;
            continue;
        }
        const auto end = construct_end(s, pos);
        if (end == npos) {
            break;
        }
        if (s[pos + 1] == '?' || s[pos + 1] == '!') {
            pos = end;  // the XML declaration: each message is a document without one
            continue;
        }
        const std::string_view element = s.substr(pos, end - pos);
        const std::string_view name = tag_name(element);
        const std::size_t after_name = 1 + name.size();
        std::string message;
        message.reserve(element.size() + 64);
        if (name.starts_with("stream:")) {
            message.append(element.substr(0, after_name));
            message += " xmlns:stream='" + std::string(streams_ns) + "'";
            message.append(element.substr(after_name));
        } else {
            const auto attrs = attributes(element.substr(0, tag_end(element, 0)));
            if (attrs && !has_default_namespace(*attrs) && name.find(':') == std::string_view::npos) {
                message.append(element.substr(0, after_name));
                message += " xmlns='" + std::string(content_ns_) + "'";
                message.append(element.substr(after_name));
            } else {
                message.assign(element);
            }
        }
        messages.push_back(std::move(message));
        pos = end;
    }
    if (pos < s.size()) {
        pending_.assign(s.substr(pos));
    }
    return pending_.size() <= max_pending_;
}

}  // namespace hush::websocket_framing

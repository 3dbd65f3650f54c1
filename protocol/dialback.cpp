#include "protocol/dialback.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <optional>

#include "protocol/jid.hpp"
#include "protocol/namespaces.hpp"
#include "protocol/scram.hpp"

namespace hush {

namespace {


bool is_xml_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_xml_space(s.front())) {
        s.remove_prefix(1);
    }
    while (!s.empty() && is_xml_space(s.back())) {
        s.remove_suffix(1);
    }
    return s;
}

struct qname {
    std::string_view prefix;
    std::string_view local;
};

qname split_name(const char* name) {
    const std::string_view n(name);
    const auto colon = n.find(':');
    if (colon == std::string_view::npos) {
        return {{}, n};
    }
    return {n.substr(0, colon), n.substr(colon + 1)};
}

// The namespace bound to `prefix` (empty: the default namespace) at `node`; nullopt when nothing declares it.
std::optional<std::string_view> ns_in_scope(pugi::xml_node node, std::string_view prefix) {
    const std::string attr = prefix.empty() ? std::string("xmlns") : "xmlns:" + std::string(prefix);
    for (; node && node.type() == pugi::node_element; node = node.parent()) {
        if (auto a = node.attribute(attr.c_str())) {
            return std::string_view(a.value());
        }
    }
    if (prefix.empty()) {
        return std::string_view();  // no default namespace declared: unqualified
    }
    return std::nullopt;
}

// The element's namespace and local name; nullopt for an undeclared prefix.
std::optional<std::string_view> element_ns(pugi::xml_node node) {
    return ns_in_scope(node, split_name(node.name()).prefix);
}

bool is_element(pugi::xml_node node, std::string_view local, std::string_view ns) {
    if (node.type() != pugi::node_element || split_name(node.name()).local != local) {
        return false;
    }
    const auto element = element_ns(node);
    return element && *element == ns;
}

stream_error bad_format(std::string text) {
    return stream_error{"bad-format", std::move(text)};
}

// A dialback from/to: a bare domain, returned nameprepped.
hush::expected<std::string, stream_error> parse_domain(pugi::xml_node node, const char* attribute) {
    const std::string_view value = node.attribute(attribute).value();
    if (value.empty()) {
        return hush::unexpected(stream_error{"improper-addressing", std::string("missing '") + attribute + "'"});
    }
    auto address = jid::parse(value);
    if (!address || address->has_node() || !address->is_bare()) {
        return hush::unexpected(
            stream_error{"improper-addressing", std::string("'") + attribute + "' is not a domain"});
    }
    return address->domain();
}

std::optional<dialback_type> parse_type(pugi::xml_node node) {
    const auto attr = node.attribute("type");
    if (!attr) {
        return dialback_type::request;
    }
    const std::string_view t = attr.value();
    if (t == "valid") {
        return dialback_type::valid;
    }
    if (t == "invalid") {
        return dialback_type::invalid;
    }
    if (t == "error") {
        return dialback_type::error;
    }
    return std::nullopt;
}

std::optional<error_type> parse_error_type(std::string_view t) {
    for (auto candidate : {error_type::auth, error_type::cancel, error_type::continue_, error_type::modify,
                           error_type::wait}) {
        if (error_type_name(candidate) == t) {
            return candidate;
        }
    }
    return std::nullopt;
}

// The <error/> child, which XEP-0220 §2.4 puts in the stream's namespace (jabber:server).
dialback_error parse_error_child(pugi::xml_node node) {
    dialback_error error;
    for (auto child : node.children()) {
        if (child.type() != pugi::node_element || split_name(child.name()).local != "error") {
            continue;
        }
        const auto child_ns = element_ns(child);
        if (!child_ns || !(child_ns->empty() || *child_ns == ns::server || *child_ns == ns::client)) {
            continue;
        }
        bool have_condition = false;
        for (auto item : child.children()) {
            if (item.type() != pugi::node_element) {
                continue;
            }
            const auto item_ns = element_ns(item);
            if (!item_ns || *item_ns != ns::stanza_errors) {
                continue;
            }
            const std::string_view local = split_name(item.name()).local;
            if (local == "text") {
                error.text = item.text().get();
            } else if (!have_condition) {
                error.condition = std::string(local);
                have_condition = true;
            }
        }
        const auto type = parse_error_type(child.attribute("type").value());
        error.type = type ? *type : default_error_type(error.condition);
        break;
    }
    return error;
}

// Everything shared by <db:result/> and <db:verify/>.
struct common_fields {
    std::string from;
    std::string to;
    dialback_type type = dialback_type::request;
    std::string key;
    dialback_error error;
};

hush::expected<common_fields, stream_error> parse_common(pugi::xml_node node) {
    common_fields out;
    auto from = parse_domain(node, "from");
    if (!from) {
        return hush::unexpected(from.error());
    }
    auto to = parse_domain(node, "to");
    if (!to) {
        return hush::unexpected(to.error());
    }
    out.from = std::move(*from);
    out.to = std::move(*to);
    const auto type = parse_type(node);
    if (!type) {
        return hush::unexpected(bad_format("unknown dialback type"));
    }
    out.type = *type;
    switch (out.type) {
    case dialback_type::request: {
        std::string text;
        for (auto child : node.children()) {
            if (child.type() == pugi::node_pcdata || child.type() == pugi::node_cdata) {
                text += child.value();
            }
        }
        const std::string_view key = trim(text);
        if (key.empty()) {
            return hush::unexpected(bad_format("a dialback request without a key"));
        }
        if (key.size() > max_dialback_key_size) {
            return hush::unexpected(bad_format("dialback key too long"));
        }
        out.key = std::string(key);
        break;
    }
    case dialback_type::error:
        out.error = parse_error_child(node);
        break;
    case dialback_type::valid:
    case dialback_type::invalid:
        break;  // any text is ignored: nothing to verify in an answer
    }
    return out;
}

void append_common(pugi::xml_node node, const std::string& from, const std::string& to, const std::string* id,
                   dialback_type type, const std::string& key, const dialback_error& error) {
    node.append_attribute("from").set_value(from.c_str());
    node.append_attribute("to").set_value(to.c_str());
    if (id != nullptr) {
        node.append_attribute("id").set_value(id->c_str());
    }
    if (type != dialback_type::request) {
        node.append_attribute("type").set_value(std::string(dialback_type_name(type)).c_str());
    }
    if (type == dialback_type::request) {
        node.append_child(pugi::node_pcdata).set_value(key.c_str());
    } else if (type == dialback_type::error) {
        auto e = node.append_child("error");
        e.append_attribute("type").set_value(std::string(error_type_name(error.type)).c_str());
        auto condition = e.append_child(error.condition.empty() ? "undefined-condition" : error.condition.c_str());
        condition.append_attribute("xmlns").set_value(std::string(ns::stanza_errors).c_str());
        if (!error.text.empty()) {
            auto text = e.append_child("text");
            text.append_attribute("xmlns").set_value(std::string(ns::stanza_errors).c_str());
            text.append_child(pugi::node_pcdata).set_value(error.text.c_str());
        }
    }
}

struct string_writer final : pugi::xml_writer {
    std::string& out;
    explicit string_writer(std::string& target) : out(target) {}
    void write(const void* data, std::size_t size) override { out.append(static_cast<const char*>(data), size); }
};

std::string print(pugi::xml_node node) {
    std::string out;
    string_writer writer(out);
    node.print(writer, "", pugi::format_raw | pugi::format_no_declaration, pugi::encoding_utf8);
    return out;
}

}  // namespace

std::string dialback_key(std::string_view secret, std::string_view receiving, std::string_view originating,
                         std::string_view stream_id) {
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), digest);
    // XEP-0185: the HMAC key is the hex text of SHA256(secret), not the raw digest.
    std::string hmac_key = sasl::hex_encode(std::string_view(reinterpret_cast<const char*>(digest), sizeof digest));
    OPENSSL_cleanse(digest, sizeof digest);

    std::string data;
    data.reserve(receiving.size() + originating.size() + stream_id.size() + 2);
    data.append(receiving).append(" ").append(originating).append(" ").append(stream_id);

    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_size = 0;
    const bool ok = HMAC(EVP_sha256(), hmac_key.data(), static_cast<int>(hmac_key.size()),
                         reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &mac_size) != nullptr;
    OPENSSL_cleanse(hmac_key.data(), hmac_key.size());
    if (!ok) {
        return {};  // cannot happen with a built-in digest; an empty key never verifies
    }
    return sasl::hex_encode(std::string_view(reinterpret_cast<const char*>(mac), mac_size));
}

bool verify_dialback_key(std::string_view secret, std::string_view receiving, std::string_view originating,
                         std::string_view stream_id, std::string_view presented) {
    const std::string expected = dialback_key(secret, receiving, originating, stream_id);
    // The length is public (always 64); only the contents must not leak through timing.
    if (expected.empty() || presented.size() != expected.size()) {
        return false;
    }
    return CRYPTO_memcmp(expected.data(), presented.data(), expected.size()) == 0;
}

std::string_view dialback_type_name(dialback_type type) {
    switch (type) {
    case dialback_type::request: return "";
    case dialback_type::valid: return "valid";
    case dialback_type::invalid: return "invalid";
    case dialback_type::error: return "error";
    }
    return "";
}

dialback_element classify_dialback(pugi::xml_node node) {
    if (is_element(node, "result", dialback_ns::elements)) {
        return dialback_element::result;
    }
    if (is_element(node, "verify", dialback_ns::elements)) {
        return dialback_element::verify;
    }
    return dialback_element::none;
}

hush::expected<dialback_result, stream_error> parse_dialback_result(pugi::xml_node node) {
    if (classify_dialback(node) != dialback_element::result) {
        return hush::unexpected(bad_format("not a <db:result/>"));
    }
    auto common = parse_common(node);
    if (!common) {
        return hush::unexpected(common.error());
    }
    return dialback_result{std::move(common->from), std::move(common->to), common->type, std::move(common->key),
                           std::move(common->error)};
}

hush::expected<dialback_verify, stream_error> parse_dialback_verify(pugi::xml_node node) {
    if (classify_dialback(node) != dialback_element::verify) {
        return hush::unexpected(bad_format("not a <db:verify/>"));
    }
    auto common = parse_common(node);
    if (!common) {
        return hush::unexpected(common.error());
    }
    // The id joins the key input with spaces as separators (XEP-0185), so it must not hold any (NMTOKEN).
    const std::string_view id = node.attribute("id").value();
    if (id.empty()) {
        return hush::unexpected(bad_format("a <db:verify/> without an id"));
    }
    if (id.size() > max_dialback_key_size) {
        return hush::unexpected(bad_format("<db:verify/> id too long"));
    }
    for (char c : id) {
        if (is_xml_space(c)) {
            return hush::unexpected(bad_format("<db:verify/> id holds whitespace"));
        }
    }
    return dialback_verify{std::move(common->from), std::move(common->to), std::string(id), common->type,
                           std::move(common->key), std::move(common->error)};
}

pugi::xml_node append_dialback(pugi::xml_node parent, const dialback_result& result) {
    auto node = parent.append_child("db:result");
    append_common(node, result.from, result.to, nullptr, result.type, result.key, result.error);
    return node;
}

pugi::xml_node append_dialback(pugi::xml_node parent, const dialback_verify& verify) {
    auto node = parent.append_child("db:verify");
    append_common(node, verify.from, verify.to, &verify.id, verify.type, verify.key, verify.error);
    return node;
}

std::string serialize_dialback(const dialback_result& result) {
    pugi::xml_document doc;
    return print(append_dialback(doc, result));
}

std::string serialize_dialback(const dialback_verify& verify) {
    pugi::xml_document doc;
    return print(append_dialback(doc, verify));
}

dialback_result answer_dialback(const dialback_result& request, dialback_type type, dialback_error error) {
    dialback_result answer;
    answer.from = request.to;
    answer.to = request.from;
    answer.type = type;
    if (type == dialback_type::error) {
        answer.error = std::move(error);
    }
    return answer;
}

dialback_verify answer_dialback(const dialback_verify& request, dialback_type type, dialback_error error) {
    dialback_verify answer;
    answer.from = request.to;
    answer.to = request.from;
    answer.id = request.id;
    answer.type = type;
    if (type == dialback_type::error) {
        answer.error = std::move(error);
    }
    return answer;
}

bool offers_dialback_errors(pugi::xml_node features) {
    for (auto child : features.children()) {
        if (!is_element(child, "dialback", dialback_ns::feature)) {
            continue;
        }
        for (auto sub : child.children()) {
            if (is_element(sub, "errors", dialback_ns::feature)) {
                return true;
            }
        }
    }
    return false;
}

void append_dialback_feature(pugi::xml_node features) {
    auto dialback = features.append_child("dialback");
    dialback.append_attribute("xmlns").set_value(std::string(dialback_ns::feature).c_str());
    dialback.append_child("errors");
}

}  // namespace hush

namespace hush {

hush::expected<dialback_element_value, stream_error> parse_dialback(pugi::xml_node node) {
    switch (classify_dialback(node)) {
    case dialback_element::result: {
        auto parsed = parse_dialback_result(node);
        if (!parsed) {
            return hush::unexpected<stream_error>(parsed.error());
        }
        return dialback_element_value{std::move(*parsed)};
    }
    case dialback_element::verify: {
        auto parsed = parse_dialback_verify(node);
        if (!parsed) {
            return hush::unexpected<stream_error>(parsed.error());
        }
        return dialback_element_value{std::move(*parsed)};
    }
    case dialback_element::none:
        break;
    }
    return dialback_element_value{};
}

}  // namespace hush

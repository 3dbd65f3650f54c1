#pragma once
// A JID (RFC 7622) as a value type, normalized at construction: node with nodeprep, domain with nameprep
// (lower-cased, trailing dot removed), resource with resourceprep. Comparisons say bare or full.
#include <optional>
#include <string>
#include <string_view>

namespace hush {

class jid {
public:
    jid() = default;  // empty: holds no address; only useful as a placeholder

    // Parses and normalizes; nullopt when the text is not a valid JID (empty parts, over 1023 bytes per part,
    // prohibited code points, invalid UTF-8).
    static std::optional<jid> parse(std::string_view text);
    // Builds from parts (each normalized); nullopt if any part is invalid. Empty node/resource = absent.
    static std::optional<jid> from_parts(std::string_view node, std::string_view domain,
                                         std::string_view resource = {});

    const std::string& node() const { return node_; }
    const std::string& domain() const { return domain_; }
    const std::string& resource() const { return resource_; }

    bool empty() const { return domain_.empty(); }
    bool has_node() const { return !node_.empty(); }
    bool is_bare() const { return resource_.empty(); }

    jid bare() const;                    // without the resource
    jid with_resource(std::string_view resource) const;  // resource must already be valid (prepped)
    // Joined once at construction: a stanza asks for them many times.
    const std::string& bare_string() const { return bare_; }  // node@domain or domain
    const std::string& full_string() const { return full_; }  // node@domain/resource or bare_string()

    bool equals_bare(const jid& other) const { return node_ == other.node_ && domain_ == other.domain_; }
    bool equals_full(const jid& other) const { return equals_bare(other) && resource_ == other.resource_; }
    bool operator==(const jid& other) const { return equals_full(other); }

private:
    void join();  // bare_ and full_ from the parts

    std::string node_;
    std::string domain_;
    std::string resource_;
    std::string bare_;
    std::string full_;
};

// Stringprep profiles, exposed for SASL (SASLprep, RFC 4013) and tests. nullopt on prohibited input.
// Nodeprep, Nameprep and SASLprep refuse unassigned code points (identifiers); Resourceprep allows them (emoji).
std::optional<std::string> nodeprep(std::string_view in);
std::optional<std::string> nameprep(std::string_view in);
std::optional<std::string> resourceprep(std::string_view in);
std::optional<std::string> saslprep(std::string_view in);

// Strict UTF-8 (no overlong forms, surrogates or code points above U+10FFFF); used before any stringprep.
bool valid_utf8(std::string_view text);

}  // namespace hush

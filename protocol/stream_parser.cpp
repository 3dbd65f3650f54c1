#include "protocol/stream_parser.hpp"

#include <expat.h>

#include <algorithm>
#include <cstring>
#include <iterator>

#include "protocol/namespaces.hpp"

namespace hush::xml {

namespace {

constexpr char ns_separator = '\x01';

struct qname {
    std::string_view ns;
    std::string_view local;
};

qname split_name(const XML_Char* name) {
    std::string_view full(name);
    const auto sep = full.find(ns_separator);
    if (sep == std::string_view::npos) {
        return {{}, full};
    }
    return {full.substr(0, sep), full.substr(sep + 1)};
}

bool is_xml_whitespace(std::string_view text) {
    return std::all_of(text.begin(), text.end(), [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; });
}

// An expat parser costs about 10 KiB, and a connection waiting between stanzas needs none of it: between two
// top-level elements expat's state is nothing but the stream root and its namespace declarations. So a stream
// parser holds an expat parser only while an element is incomplete; between elements it returns it here, to a
// pool per thread keyed by the root's declarations, and takes one back (or makes one, and feeds it the same root)
// when bytes arrive. An idle connection holds no parser at all.
struct pooled_parser {
    std::string key;          // the root start tag the parser has consumed
    XML_Parser parser;
    long long bytes_fed = 0;  // in the parser's lifetime, to turn its byte index into the stream's
};

class parser_pool {
public:
    static constexpr std::size_t capacity = 64;  // per thread; a parser past it is freed

    ~parser_pool() {
        for (auto& entry : free_) {
            XML_ParserFree(entry.parser);
        }
    }

    std::optional<pooled_parser> take(std::string_view key) {
        for (auto it = free_.rbegin(); it != free_.rend(); ++it) {
            if (it->key == key) {
                pooled_parser found = std::move(*it);
                free_.erase(std::next(it).base());
                return found;
            }
        }
        return std::nullopt;
    }

    void give(pooled_parser entry) {
        if (free_.size() >= capacity) {
            XML_ParserFree(free_.front().parser);
            free_.erase(free_.begin());
        }
        free_.push_back(std::move(entry));
    }

    static parser_pool& of_this_thread() {
        static thread_local parser_pool pool;
        return pool;
    }

private:
    std::vector<pooled_parser> free_;
};

// A parser that buffered a long element (expat keeps its largest buffer) is freed instead of pooled.
constexpr std::size_t poolable_span = 32 * 1024;

}  // namespace

struct stream_parser::impl {
    parser_limits limits;
    XML_Parser parser = nullptr;
    std::vector<stream_event>* out = nullptr;
    std::optional<stream_error> error;

    std::size_t depth = 0;  // 0: outside the stream root; 1: between stanzas; >=2: inside a stanza
    std::string content_ns;
    std::string pending_default_ns;  // default namespace declared on the element about to start
    bool root_seen = false;
    // The root's namespace declarations in order, and the start tag that recreates them for a pooled parser
    // (empty when the root is unusual enough not to pool: the parser then stays with the stream).
    std::vector<std::pair<std::string, std::string>> root_decls;
    std::string root_tag;
    bool priming = false;          // feeding root_tag to a new parser: no events
    long long parser_base = 0;     // the stream's byte count where the current parser's count is zero
    long long parser_bytes = 0;    // bytes the current parser has been fed in its lifetime
    bool parser_spanned_long = false;

    // The stanza being built.
    std::shared_ptr<pugi::xml_document> doc;
    std::string stanza_ns;
    std::vector<std::pair<pugi::xml_node, std::string>> open;  // element and its namespace
    // Character data for open.back() not yet in the tree: expat delivers text in many small chunks (one per entity
    // reference), so gather the run here and store it once when the next tag starts or ends. Keeps it linear.
    std::string pending_text;

    // Bytes fed in total, and where the current stanza (or the gap since the last one) started.
    std::size_t fed = 0;
    std::size_t boundary = 0;
    std::size_t text_copied = 0;  // see stream_parser::text_bytes_copied

    explicit impl(parser_limits l) : limits(l) { create(); }
    ~impl() { destroy(); }

    void destroy() {
        if (parser != nullptr) {
            XML_ParserFree(parser);
            parser = nullptr;
        }
    }

    // A new expat parser with our handlers, before any root.
    void new_parser() {
        // Force UTF-8 whatever the XML declaration says (RFC 6120 §11.6).
        parser = XML_ParserCreateNS("UTF-8", ns_separator);
        parser_bytes = 0;
        parser_spanned_long = false;
        if (parser == nullptr) {
            return;
        }
        // Expat's reparse deferral (2.6.0, backported to Debian 12's 2.5.0) holds back complete tokens until more
        // bytes arrive — fatal for a stream where the peer waits for our answer. The quadratic cost it guards
        // against is bounded here by max_stanza_bytes.
#ifdef HUSH_EXPAT_REPARSE_DEFERRAL
        XML_SetReparseDeferralEnabled(parser, XML_FALSE);
#endif
        XML_SetUserData(parser, this);
        XML_SetElementHandler(parser, &impl::on_start, &impl::on_end);
        XML_SetCharacterDataHandler(parser, &impl::on_text);
        XML_SetStartNamespaceDeclHandler(parser, &impl::on_ns_decl);
        XML_SetStartDoctypeDeclHandler(parser, &impl::on_doctype);
        XML_SetEntityDeclHandler(parser, &impl::on_entity_decl);
        XML_SetCommentHandler(parser, &impl::on_comment);
        XML_SetProcessingInstructionHandler(parser, &impl::on_pi);
        XML_SetParamEntityParsing(parser, XML_PARAM_ENTITY_PARSING_NEVER);
    }

    void create() {
        destroy();
        new_parser();
        parser_base = 0;
        depth = 0;
        content_ns.clear();
        pending_default_ns.clear();
        root_seen = false;
        root_decls.clear();
        root_tag.clear();
        doc.reset();
        open.clear();
        pending_text.clear();
        error.reset();
        fed = 0;
        boundary = 0;
    }

    // The stream's byte count just past the current expat event.
    std::size_t position_after_event() const {
        return static_cast<std::size_t>(parser_base + XML_GetCurrentByteIndex(parser) +
                                        XML_GetCurrentByteCount(parser));
    }

    // Gets a parser in the state "inside this stream's root, between elements": from the pool, or a new one fed
    // the root's start tag. False when that fails (out of memory).
    bool resume_parser() {
        if (auto pooled = parser_pool::of_this_thread().take(root_tag)) {
            parser = pooled->parser;
            XML_SetUserData(parser, this);
            parser_bytes = pooled->bytes_fed;
            parser_spanned_long = false;
        } else {
            new_parser();
            if (parser == nullptr) {
                return false;
            }
            if (root_tag.empty()) {
                return true;  // no root yet (the first parser could not be made): start from the beginning
            }
            priming = true;
            const auto status = XML_Parse(parser, root_tag.data(), static_cast<int>(root_tag.size()), XML_FALSE);
            priming = false;
            parser_bytes = static_cast<long long>(root_tag.size());
            if (status != XML_STATUS_OK) {
                destroy();
                return false;
            }
        }
        parser_base = static_cast<long long>(fed) - parser_bytes;
        return true;
    }

    // Between elements, the parser goes back to the pool.
    void park_parser() {
        if (parser == nullptr || root_tag.empty() || error || depth != 1 || boundary != fed) {
            return;
        }
        if (parser_spanned_long) {
            destroy();
            return;
        }
        parser_pool::of_this_thread().give(pooled_parser{root_tag, parser, parser_bytes});
        parser = nullptr;
    }

    void fail(std::string condition, std::string text = {}) {
        if (!error) {
            error = stream_error{std::move(condition), std::move(text)};
        }
        XML_StopParser(parser, XML_FALSE);
    }

    static impl& self(void* data) { return *static_cast<impl*>(data); }

    // Stores the gathered text run as one text node of the innermost open element.
    void flush_text() {
        if (pending_text.empty()) {
            return;
        }
        open.back().first.append_child(pugi::node_pcdata).set_value(pending_text.data(), pending_text.size());
        text_copied += pending_text.size();
        pending_text.clear();  // keeps the capacity for the next run
    }

    static void on_ns_decl(void* data, const XML_Char* prefix, const XML_Char* uri) {
        auto& s = self(data);
        if (prefix == nullptr) {
            s.pending_default_ns = uri != nullptr ? uri : "";
        }
        if (s.depth == 0 && !s.priming) {
            s.root_decls.emplace_back(prefix != nullptr ? prefix : "", uri != nullptr ? uri : "");
        }
    }

    static void on_doctype(void* data, const XML_Char*, const XML_Char*, const XML_Char*, int) {
        self(data).fail("restricted-xml", "DTDs are not allowed");
    }
    static void on_entity_decl(void* data, const XML_Char*, int, const XML_Char*, int, const XML_Char*,
                               const XML_Char*, const XML_Char*, const XML_Char*) {
        self(data).fail("restricted-xml", "entity declarations are not allowed");
    }
    static void on_comment(void* data, const XML_Char*) {
        self(data).fail("restricted-xml", "comments are not allowed");
    }
    static void on_pi(void* data, const XML_Char*, const XML_Char*) {
        self(data).fail("restricted-xml", "processing instructions are not allowed");
    }

    static void on_start(void* data, const XML_Char* name, const XML_Char** attrs) {
        auto& s = self(data);
        if (s.error) {
            return;
        }
        if (s.priming) {
            s.pending_default_ns.clear();  // a new parser taking in our root again: we are past it already
            return;
        }
        const qname q = split_name(name);
        if (s.depth >= 2) {
            s.flush_text();
        }
        if (s.depth == 0) {
            s.start_stream(q, attrs);
        } else {
            s.start_element(q, attrs);
        }
        s.pending_default_ns.clear();
    }

    // The start tag that puts a new parser where this root put ours: the same prefixes for the same namespaces
    // and the same qualified name (so the peer's closing tag matches). Empty when the root's own prefix is not
    // certain from its declarations (no pooling then).
    void make_root_tag(const qname& q) {
        root_tag.clear();
        std::string prefix;
        int root_prefixes = 0;
        for (const auto& [p, uri] : root_decls) {
            if (uri == q.ns) {
                ++root_prefixes;
                prefix = p;
            }
            if (uri.find_first_of("'<&") != std::string::npos) {
                return;
            }
        }
        if (root_prefixes != 1 || prefix.empty()) {
            return;  // unprefixed or ambiguous: keep the parser for the stream's life
        }
        root_tag = "<" + prefix + ":" + std::string(q.local);
        for (const auto& [p, uri] : root_decls) {
            root_tag += p.empty() ? " xmlns='" : " xmlns:" + p + "='";
            root_tag += uri;
            root_tag += "'";
        }
        root_tag += ">";
    }

    void start_stream(const qname& q, const XML_Char** attrs) {
        if (root_seen) {
            fail("not-well-formed", "a second stream header");
            return;
        }
        root_seen = true;
        stream_open header;
        header.stream_ns = std::string(q.ns);
        header.local_name = std::string(q.local);
        header.content_ns = pending_default_ns;
        for (auto a = attrs; *a != nullptr; a += 2) {
            const qname an = split_name(a[0]);
            const std::string_view value(a[1]);
            if (an.ns == ns::xml && an.local == "lang") {
                header.lang = value;
            } else if (!an.ns.empty()) {
                continue;
            } else if (an.local == "to") {
                header.to = value;
            } else if (an.local == "from") {
                header.from = value;
            } else if (an.local == "version") {
                header.version = value;
            } else if (an.local == "id") {
                header.id = value;
            }
        }
        content_ns = header.content_ns;
        depth = 1;
        make_root_tag(q);
        std::vector<std::pair<std::string, std::string>>().swap(root_decls);  // root_tag carries what is needed
        boundary = position_after_event();
        out->emplace_back(std::move(header));
    }

    void start_element(const qname& q, const XML_Char** attrs) {
        const std::string element_ns(q.ns);
        pugi::xml_node node;
        bool needs_xmlns = false;
        if (depth == 1) {
            doc = std::make_shared<pugi::xml_document>();
            node = doc->append_child(std::string(q.local).c_str());
            stanza_ns = element_ns;
            needs_xmlns = element_ns != content_ns;
        } else {
            if (depth - 1 > limits.max_depth) {
                fail("policy-violation", "elements nested too deeply");
                return;
            }
            auto& [parent, parent_ns] = open.back();
            node = parent.append_child(std::string(q.local).c_str());
            needs_xmlns = element_ns != parent_ns;
        }
        if (needs_xmlns) {
            node.append_attribute("xmlns").set_value(element_ns.c_str());
        }
        int generated_prefix = 0;
        for (auto a = attrs; *a != nullptr; a += 2) {
            const qname an = split_name(a[0]);
            if (an.ns.empty()) {
                node.append_attribute(std::string(an.local).c_str()).set_value(a[1]);
            } else if (an.ns == ns::xml) {
                node.append_attribute(("xml:" + std::string(an.local)).c_str()).set_value(a[1]);
            } else {
                // A namespaced attribute: declare a prefix of our own for it on this element.
                const std::string prefix = "ns" + std::to_string(++generated_prefix);
                node.append_attribute(("xmlns:" + prefix).c_str()).set_value(std::string(an.ns).c_str());
                node.append_attribute((prefix + ":" + std::string(an.local)).c_str()).set_value(a[1]);
            }
        }
        open.emplace_back(node, element_ns);
        ++depth;
    }

    static void on_end(void* data, const XML_Char*) {
        auto& s = self(data);
        if (s.error) {
            return;
        }
        if (s.depth == 1) {
            s.depth = 0;
            s.out->emplace_back(stream_close{});
            return;
        }
        s.flush_text();
        --s.depth;
        s.open.pop_back();
        if (s.depth == 1) {
            s.out->emplace_back(top_level_element{hush::stanza(std::move(s.doc), std::move(s.stanza_ns))});
            s.doc.reset();
            s.stanza_ns.clear();
            // Don't let one big body pin its buffer for the rest of an idle connection.
            if (s.pending_text.capacity() > 4096) {
                std::string().swap(s.pending_text);
            }
            s.boundary = s.position_after_event();
        }
    }

    static void on_text(void* data, const XML_Char* text, int len) {
        auto& s = self(data);
        if (s.error) {
            return;
        }
        const std::string_view chunk(text, static_cast<std::size_t>(len));
        if (s.depth <= 1) {
            // Between stanzas only whitespace (keepalives) is allowed; it ends nothing, so the next element's
            // bytes start after it.
            if (!is_xml_whitespace(chunk)) {
                s.fail("bad-format", "text outside a stanza");
            } else if (s.depth == 1) {
                s.boundary = s.position_after_event();
            }
            return;
        }
        // Count a reallocation's move of the run so far too: the counter is all the copying, not just appends.
        if (s.pending_text.size() + chunk.size() > s.pending_text.capacity()) {
            s.text_copied += s.pending_text.size();
        }
        s.pending_text.append(chunk);
        s.text_copied += chunk.size();
    }
};

stream_parser::stream_parser(parser_limits limits) : impl_(std::make_unique<impl>(limits)) {}
stream_parser::~stream_parser() = default;

void stream_parser::reset() { impl_->create(); }

std::size_t stream_parser::text_bytes_copied() const { return impl_->text_copied; }

bool stream_parser::holds_expat_parser() const { return impl_->parser != nullptr; }

std::optional<stream_error> stream_parser::feed(std::string_view bytes, std::vector<stream_event>& out) {
    auto& s = *impl_;
    if (s.error) {
        return s.error;
    }
    if (s.parser == nullptr && !bytes.empty() && !s.resume_parser()) {
        s.error = stream_error{"resource-constraint", "out of memory"};
        return s.error;
    }
    s.out = &out;
    // Feed in bounded slices so the size limit is checked before expat buffers a huge element.
    constexpr std::size_t slice = 16 * 1024;
    while (!bytes.empty()) {
        const auto n = std::min(bytes.size(), slice);
        const auto status = XML_Parse(s.parser, bytes.data(), static_cast<int>(n), XML_FALSE);
        s.fed += n;
        s.parser_bytes += static_cast<long long>(n);
        bytes.remove_prefix(n);
        if (s.error) {
            break;
        }
        if (status != XML_STATUS_OK) {
            const auto code = XML_GetErrorCode(s.parser);
            if (code == XML_ERROR_UNDEFINED_ENTITY || code == XML_ERROR_RECURSIVE_ENTITY_REF ||
                code == XML_ERROR_EXTERNAL_ENTITY_HANDLING || code == XML_ERROR_MISPLACED_XML_PI) {
                s.error = stream_error{"restricted-xml", XML_ErrorString(code)};
            } else {
                s.error = stream_error{"not-well-formed", XML_ErrorString(code)};
            }
            break;
        }
        if (s.fed - s.boundary > poolable_span) {
            s.parser_spanned_long = true;
        }
        if (s.fed - s.boundary > s.limits.max_stanza_bytes) {
            s.error = stream_error{"policy-violation", "stanza too large (limit " +
                                                           std::to_string(s.limits.max_stanza_bytes) + " bytes)"};
            break;
        }
    }
    s.out = nullptr;
    s.park_parser();
    return s.error;
}

}  // namespace hush::xml

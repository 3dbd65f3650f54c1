// sql_store, IM core: small per-account XML documents (vCard, private XML storage, anti-SPIM state) by key.
#include <string>

#include "storage/sql_store.hpp"

namespace hush::storage {

// ---- documents ----

result<std::optional<std::string>> sql_store::get_document(const std::string& domain, const std::string& username,
                                                           const std::string& key) {
    return query_text("get document", "SELECT xml FROM documents WHERE domain = $1 AND username = $2 AND doc_key = $3",
                      {domain, username, key});
}

result<void> sql_store::put_document(const std::string& domain, const std::string& username, const std::string& key,
                                     const std::string& xml) {
    auto stored = run("put document",
                      "INSERT INTO documents (domain, username, doc_key, xml, updated_at) VALUES ($1, $2, $3, $4, $5) "
                      "ON CONFLICT (domain, username, doc_key) DO UPDATE SET xml = excluded.xml, "
                      "updated_at = excluded.updated_at",
                      {domain, username, key, xml, now_unix()});
    if (!stored) {
        return unexpected(stored.error());
    }
    return {};
}

result<std::vector<std::string>> sql_store::document_keys(const std::string& domain, const std::string& username,
                                                         const std::string& prefix) {
    // substr/length rather than LIKE: keys hold JIDs, whose '_' LIKE would read as a wildcard.
    return query_texts("list documents",
                       "SELECT doc_key FROM documents WHERE domain = $1 AND username = $2 AND "
                       "substr(doc_key, 1, length($3)) = $3 ORDER BY doc_key",
                       {domain, username, prefix});
}

result<std::int64_t> sql_store::count_documents(const std::string& prefix) {
    auto n = query_int64("count documents",
                         "SELECT COUNT(*) FROM documents WHERE substr(doc_key, 1, length($1)) = $1", {prefix});
    if (!n) {
        return unexpected(n.error());
    }
    return n->value_or(0);
}

result<bool> sql_store::delete_document(const std::string& domain, const std::string& username,
                                        const std::string& key) {
    auto deleted = run("delete document", "DELETE FROM documents WHERE domain = $1 AND username = $2 AND doc_key = $3",
                       {domain, username, key});
    if (!deleted) {
        return unexpected(deleted.error());
    }
    return *deleted > 0;
}

result<std::int64_t> sql_store::delete_documents_older_than(const std::string& prefix, std::int64_t cutoff,
                                                            std::size_t limit) {
    // The outer conditions again: on PostgreSQL a row rewritten meanwhile is re-checked against them (and kept).
    auto deleted = run("delete old documents",
                       "DELETE FROM documents WHERE updated_at < $2 AND substr(doc_key, 1, length($1)) = $1 AND "
                       "(domain, username, doc_key) IN (SELECT domain, username, doc_key FROM documents "
                       "WHERE updated_at < $2 AND substr(doc_key, 1, length($1)) = $1 ORDER BY updated_at LIMIT $3)",
                       {prefix, cutoff, static_cast<std::int64_t>(limit)});
    if (!deleted) {
        return unexpected(deleted.error());
    }
    return std::int64_t{*deleted};
}

}  // namespace hush::storage

#pragma once
// The one bounded container for in-memory detection state fed by peer input (DoS counts, greylist first sights,
// rate buckets, outbound contacts, s2s back-offs, per-session presence bookkeeping): a map with a fixed capacity
// that, when full, forgets the least recently used entry instead of growing — or of being wiped whole, which
// would reset every detection at once. A sender that keeps coming back keeps its entry; a flood of new keys only
// pushes out the keys nobody has touched for longest. Each eviction is counted (evictions(), and optionally a
// shared atomic several maps report into, for /metrics).
//
// Not thread-safe: callers hold their own mutex (or stay on one strand). Inserting a new key into a full map
// evicts one entry, which invalidates references to that entry only; the entry just touched or inserted is never
// the one evicted.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <list>
#include <tuple>
#include <unordered_map>
#include <utility>

namespace hush::antispim {

template <class Key, class Value, class Hash = std::hash<Key>, class Equal = std::equal_to<Key>>
class bounded_map {
public:
    using key_type = Key;
    using mapped_type = Value;
    using value_type = std::pair<const Key, Value>;
    using iterator = typename std::list<value_type>::iterator;  // most recently used first
    using const_iterator = typename std::list<value_type>::const_iterator;

    // `capacity` is at least 1. `shared_evictions`, when set, is incremented with every eviction as well (it must
    // outlive the map).
    explicit bounded_map(std::size_t capacity, std::atomic<std::uint64_t>* shared_evictions = nullptr)
        : capacity_(capacity == 0 ? 1 : capacity), shared_evictions_(shared_evictions) {}

    bounded_map(const bounded_map&) = delete;
    bounded_map& operator=(const bounded_map&) = delete;

    // The value for `key`, marked most recently used; null when absent.
    Value* find(const Key& key) {
        auto it = index_.find(std::cref(key));
        if (it == index_.end()) {
            return nullptr;
        }
        touch(it->second);
        return &it->second->second;
    }

    // The value for `key` without changing the order (for looking, not for counting).
    const Value* peek(const Key& key) const {
        auto it = index_.find(std::cref(key));
        return it == index_.end() ? nullptr : &it->second->second;
    }

    bool contains(const Key& key) const { return index_.find(std::cref(key)) != index_.end(); }

    // The value for `key`, constructed from `args` when absent (evicting the least recently used entry if the
    // map is full); either way it becomes the most recently used. `.second` tells whether it was inserted.
    template <class... Args>
    std::pair<Value&, bool> try_emplace(const Key& key, Args&&... args) {
        if (Value* existing = find(key)) {
            return {*existing, false};
        }
        make_room();
        entries_.emplace_front(std::piecewise_construct, std::forward_as_tuple(key),
                               std::forward_as_tuple(std::forward<Args>(args)...));
        index_.emplace(std::cref(entries_.front().first), entries_.begin());
        return {entries_.front().second, true};
    }

    // Sets `key` to `value` (inserting as try_emplace does); returns the stored value.
    template <class V>
    Value& insert_or_assign(const Key& key, V&& value) {
        auto [stored, inserted] = try_emplace(key, std::forward<V>(value));
        if (!inserted) {
            stored = std::forward<V>(value);
        }
        return stored;
    }

    // Like map::operator[]: the value for `key`, default-constructed when absent.
    Value& operator[](const Key& key) { return try_emplace(key).first; }

    // Forgets `key` (not an eviction); false if it was absent.
    bool erase(const Key& key) {
        auto it = index_.find(std::cref(key));
        if (it == index_.end()) {
            return false;
        }
        auto entry = it->second;
        index_.erase(it);
        entries_.erase(entry);
        return true;
    }

    // Expiry: forgets entries from the least recently used end while `pred(key, value)` holds; returns how many.
    // Cheap when what is stale is also what is oldest, the usual case. Not counted as evictions.
    template <class Pred>
    std::size_t erase_oldest_while(Pred pred) {
        std::size_t n = 0;
        while (!entries_.empty() && pred(entries_.back().first, entries_.back().second)) {
            pop_back();
            ++n;
        }
        return n;
    }

    // Forgets every entry for which `pred(key, value)` holds (a full scan). Not counted as evictions.
    template <class Pred>
    std::size_t erase_if(Pred pred) {
        std::size_t n = 0;
        for (auto it = entries_.begin(); it != entries_.end();) {
            if (pred(it->first, it->second)) {
                index_.erase(std::cref(it->first));
                it = entries_.erase(it);
                ++n;
            } else {
                ++it;
            }
        }
        return n;
    }

    void clear() {
        index_.clear();
        entries_.clear();
    }

    // Most recently used first; iterating does not change the order.
    iterator begin() { return entries_.begin(); }
    iterator end() { return entries_.end(); }
    const_iterator begin() const { return entries_.begin(); }
    const_iterator end() const { return entries_.end(); }

    std::size_t size() const { return index_.size(); }
    bool empty() const { return index_.empty(); }
    std::size_t capacity() const { return capacity_; }
    // Entries forgotten because the map was full (this map only).
    std::uint64_t evictions() const { return evictions_; }

private:
    using key_ref = std::reference_wrapper<const Key>;
    struct ref_hash {
        std::size_t operator()(key_ref k) const { return Hash{}(k.get()); }
    };
    struct ref_equal {
        bool operator()(key_ref a, key_ref b) const { return Equal{}(a.get(), b.get()); }
    };
    void touch(iterator entry) { entries_.splice(entries_.begin(), entries_, entry); }

    void pop_back() {
        index_.erase(std::cref(entries_.back().first));
        entries_.pop_back();
    }

    void make_room() {
        while (index_.size() >= capacity_) {
            pop_back();
            ++evictions_;
            if (shared_evictions_ != nullptr) {
                shared_evictions_->fetch_add(1, std::memory_order_relaxed);
            }
        }
    }

    std::size_t capacity_;
    std::atomic<std::uint64_t>* shared_evictions_;
    std::uint64_t evictions_ = 0;
    std::list<value_type> entries_;  // most recently used at the front; nodes never move, so keys can be indexed
    std::unordered_map<key_ref, iterator, ref_hash, ref_equal> index_;  // keys refer into entries_
};

}  // namespace hush::antispim

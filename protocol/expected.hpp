#pragma once
// A small std::expected stand-in (C++23's <expected> is not in GCC 12's C++20 mode).
// The data path never throws: fallible functions return expected<T, E>.
#include <type_traits>
#include <utility>
#include <variant>

namespace hush {

template <class E>
struct unexpected {
    // A constructor, not an aggregate: Clang 14 has no class template argument deduction for aggregates.
    explicit unexpected(E e) : error(std::move(e)) {}
    E error;
};

template <class E>
unexpected(E) -> unexpected<E>;

template <class T, class E>
class [[nodiscard]] expected {
public:
    expected() requires std::is_default_constructible_v<T> : value_(std::in_place_index<0>) {}
    expected(T value) : value_(std::in_place_index<0>, std::move(value)) {}
    template <class G>
    expected(unexpected<G> err) : value_(std::in_place_index<1>, E(std::move(err.error))) {}

    bool has_value() const { return value_.index() == 0; }
    explicit operator bool() const { return has_value(); }

    T& value() & { return std::get<0>(value_); }
    const T& value() const& { return std::get<0>(value_); }
    T&& value() && { return std::get<0>(std::move(value_)); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T&& operator*() && { return std::move(*this).value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    const E& error() const { return std::get<1>(value_); }
    E& error() { return std::get<1>(value_); }

private:
    std::variant<T, E> value_;
};

// expected<void, E>
template <class E>
class [[nodiscard]] expected<void, E> {
public:
    expected() = default;
    template <class G>
    expected(unexpected<G> err) : error_(E(std::move(err.error))), ok_(false) {}

    bool has_value() const { return ok_; }
    explicit operator bool() const { return ok_; }
    const E& error() const { return error_; }

private:
    E error_{};
    bool ok_ = true;
};

}  // namespace hush

"""Prime numbers, small and plain: something to open, run and change in the demo workspaces."""

import sys


def is_prime(n: int) -> bool:
    """Whether n is prime, by trial division up to its square root."""
    if n < 2:
        return False
    d = 2
    while d * d <= n:
        if n % d == 0:
            return False
        d += 1
    return True


def primes_below(limit: int) -> list[int]:
    """Every prime smaller than limit (a sieve of Eratosthenes)."""
    if limit < 3:
        return []
    sieve = [True] * limit
    sieve[0] = sieve[1] = False
    for i in range(2, int(limit**0.5) + 1):
        if sieve[i]:
            sieve[i * i :: i] = [False] * len(range(i * i, limit, i))
    return [i for i, p in enumerate(sieve) if p]


def twin_primes(limit: int) -> list[tuple[int, int]]:
    """Pairs of primes below limit that differ by two."""
    ps = primes_below(limit)
    return [(a, b) for a, b in zip(ps, ps[1:]) if b - a == 2]


if __name__ == "__main__":
    limit = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    ps = primes_below(limit)
    print(f"{len(ps)} primes below {limit}: {ps}")
    print(f"twin primes: {twin_primes(limit)}")

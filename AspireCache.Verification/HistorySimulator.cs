namespace AspireCache.Verification;

/// <summary>
/// Generates histories that are linearizable by construction: each client issues operations one after another, every
/// operation takes effect at a random instant inside its [invoke, complete] interval, and outputs come from a
/// sequential AspireCache-like store (one global revision counter; a key's version is the revision of its last write).
/// Operations with an unknown outcome take effect (or not) at random, and are recorded without output.
/// Every written value is unique, so a read identifies the write it saw.
/// </summary>
internal static class HistorySimulator
{
    public sealed record Settings
    {
        public int Operations { get; init; } = 200;

        public int Keys { get; init; } = 5;

        public int Clients { get; init; } = 8;

        /// <summary>Probability that an operation's outcome is unknown.</summary>
        public double UnknownRate { get; init; } = 0.03;

        public bool Deletes { get; init; } = true;

        public bool CompareAndSets { get; init; } = true;

        public bool Batches { get; init; } = true;

        /// <summary>Longest operation duration, in ticks (pause between a client's operations: 0..9).</summary>
        public int MaxDuration { get; init; } = 60;
    }

    public static List<Operation> Generate(int seed, Settings? settings = null)
    {
        var s = settings ?? new Settings();
        var rng = new Random(seed);
        var keys = Enumerable.Range(0, s.Keys).Select(k => "k" + k).ToArray();
        var clientTime = new long[s.Clients];
        for (var c = 0; c < s.Clients; c++)
        {
            clientTime[c] = rng.Next(0, 20);
        }

        var planned = new List<Planned>(s.Operations);
        for (var i = 0; i < s.Operations; i++)
        {
            // The client that is free first goes next: clients interleave naturally.
            var client = 0;
            for (var c = 1; c < s.Clients; c++)
            {
                if (clientTime[c] < clientTime[client] || (clientTime[c] == clientTime[client] && rng.Next(2) == 0))
                {
                    client = c;
                }
            }

            var invoke = clientTime[client] + rng.Next(0, 10);
            var complete = invoke + rng.Next(1, s.MaxDuration + 1);
            clientTime[client] = complete + 1;
            var unknown = rng.NextDouble() < s.UnknownRate;
            var p = new Planned
            {
                Index = i,
                Client = client,
                Invoke = invoke,
                Complete = complete,
                At = rng.NextInt64(invoke, complete + 1),
                Unknown = unknown,
                TakesEffect = !unknown || rng.Next(2) == 0,
                Key = keys[rng.Next(keys.Length)],
                Value = "v" + i,
            };

            var roll = rng.NextDouble();
            p.Kind = roll switch
            {
                < 0.40 => OpKind.Read,
                < 0.65 => OpKind.Write,
                < 0.72 when s.Deletes => OpKind.Delete,
                < 0.86 when s.CompareAndSets => OpKind.CompareAndSet,
                < 1.00 when s.Batches => OpKind.Batch,
                _ => OpKind.Write,
            };

            if (p.Kind == OpKind.Batch)
            {
                var count = rng.Next(2, Math.Min(3, keys.Length) + 1);
                foreach (var key in keys.OrderBy(_ => rng.Next()).Take(count))
                {
                    if (rng.NextDouble() < 0.25)
                    {
                        p.Delete.Add(key);
                    }
                    else
                    {
                        p.Set[key] = p.Value + "-" + key;
                    }
                }
            }

            p.ExpectedRoll = rng.NextDouble();
            p.StaleOffset = rng.Next(1, 5);
            planned.Add(p);
        }

        // The sequential store, driven in order of the instants at which operations take effect.
        var store = new Dictionary<string, (string Value, long Version)>(StringComparer.Ordinal);
        var lastSeen = new Dictionary<(int Client, string Key), long?>();
        long revision = 0;
        foreach (var p in planned.Where(p => p.TakesEffect).OrderBy(p => p.At).ThenBy(p => p.Index))
        {
            switch (p.Kind)
            {
                case OpKind.Read:
                    if (store.TryGetValue(p.Key, out var seen))
                    {
                        p.ReadValue = seen.Value;
                        p.Version = seen.Version;
                    }

                    lastSeen[(p.Client, p.Key)] = p.Version;
                    break;

                case OpKind.Write:
                    p.Version = ++revision;
                    store[p.Key] = (p.Value, p.Version.Value);
                    lastSeen[(p.Client, p.Key)] = p.Version;
                    break;

                case OpKind.Delete:
                    p.Success = store.Remove(p.Key);
                    if (p.Success == true)
                    {
                        revision++;
                    }

                    lastSeen[(p.Client, p.Key)] = null;
                    break;

                case OpKind.CompareAndSet:
                    long? current = store.TryGetValue(p.Key, out var entry) ? entry.Version : null;
                    p.Expected = p.ExpectedRoll switch
                    {
                        < 0.5 => current, // usually wins
                        < 0.8 => lastSeen.GetValueOrDefault((p.Client, p.Key)), // what this client last saw
                        _ => Math.Max(1, revision - p.StaleOffset), // some probably stale version
                    };
                    p.Success = p.Expected == current;
                    if (p.Success == true)
                    {
                        p.Version = ++revision;
                        store[p.Key] = (p.Value, p.Version.Value);
                        lastSeen[(p.Client, p.Key)] = p.Version;
                    }

                    break;

                case OpKind.Batch:
                    p.Version = ++revision;
                    foreach (var (key, value) in p.Set)
                    {
                        store[key] = (value, p.Version.Value);
                    }

                    foreach (var key in p.Delete)
                    {
                        store.Remove(key);
                    }

                    break;
            }
        }

        var history = new List<Operation>(planned.Count);
        foreach (var p in planned)
        {
            var op = p.Kind switch
            {
                OpKind.Read => Operation.Read(p.Client, p.Key, p.ReadValue, p.Invoke, p.Complete, p.Version),
                OpKind.Write => Operation.Write(p.Client, p.Key, p.Value, p.Invoke, p.Complete, p.Version),
                OpKind.Delete => Operation.Delete(p.Client, p.Key, p.Success == true, p.Invoke, p.Complete),
                OpKind.CompareAndSet => Operation.CompareAndSet(p.Client, p.Key, p.Expected, p.Value, p.Success == true, p.Invoke, p.Complete, p.Version),
                _ => Operation.Batch(p.Client, p.Set, p.Delete, p.Invoke, p.Complete, p.Version),
            };
            history.Add(p.Unknown ? op.AsUnknown() : op);
        }

        return history;
    }

    /// <summary>
    /// Makes one read return a value that was certainly overwritten before it started: a write W1 completed before a
    /// write W2 began, W2 completed before the read began, and the read now claims W1's value and version. Values are
    /// unique, so no linearization can explain it. Returns null when the history has no such triple.
    /// </summary>
    public static (List<Operation> History, int MutatedIndex)? WithStaleRead(IReadOnlyList<Operation> history, int seed)
    {
        var rng = new Random(seed);
        var reads = Enumerable.Range(0, history.Count)
            .Where(i => history[i].Kind == OpKind.Read && history[i].Known)
            .OrderBy(_ => rng.Next())
            .ToList();
        foreach (var r in reads)
        {
            var read = history[r];
            var writes = history.Where(w => w.Kind == OpKind.Write && w.Known && w.Key == read.Key && w.Complete < read.Invoke).ToList();
            foreach (var w1 in writes)
            {
                if (w1.Value == read.ReadValue)
                {
                    continue;
                }

                if (writes.Any(w2 => w2.Invoke > w1.Complete))
                {
                    var mutated = history.ToList();
                    mutated[r] = read with { ReadValue = w1.Value, Version = w1.Version };
                    return (mutated, r);
                }
            }
        }

        return null;
    }

    private sealed class Planned
    {
        public int Index;
        public int Client;
        public long Invoke;
        public long Complete;
        public long At;
        public bool Unknown;
        public bool TakesEffect;
        public OpKind Kind;
        public string Key = string.Empty;
        public string Value = string.Empty;
        public Dictionary<string, string> Set = new(StringComparer.Ordinal);
        public List<string> Delete = [];
        public double ExpectedRoll;
        public int StaleOffset;
        public string? ReadValue;
        public long? Version;
        public bool? Success;
        public long? Expected;
    }
}

using System.Collections.Concurrent;

namespace AspireCache.Sample;

/// <summary>A product of the catalog.</summary>
public sealed record Product(int Id, string Name, decimal Price);

/// <summary>
/// The catalog's "database": an in-memory table with a deliberate 50 ms per lookup, so that the
/// HybridCache in front of it shows. (A real service would query its database here.)
/// </summary>
internal sealed class ProductStore
{
    private static readonly TimeSpan LookupCost = TimeSpan.FromMilliseconds(50);
    private readonly ConcurrentDictionary<int, Product> _products = new(
        Enumerable.Range(1, 20).Select(i => KeyValuePair.Create(i, new Product(i, $"Product {i}", 10m + i))));

    private long _lookups;

    /// <summary>How many lookups reached the store (cache misses).</summary>
    public long Lookups => Interlocked.Read(ref _lookups);

    public int Count => _products.Count;

    public async ValueTask<Product?> FindAsync(int id, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _lookups);
        await Task.Delay(LookupCost, cancellationToken);
        return _products.GetValueOrDefault(id);
    }

    public void Save(Product product) => _products[product.Id] = product;
}

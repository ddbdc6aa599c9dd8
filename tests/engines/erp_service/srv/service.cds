using erp from '../db/schema';

// Read-only, like the reporting APIs the adapter stands in for.
@readonly
service StockService @(path: '/odata/v4/stock') {
  entity MaterialStock as projection on erp.MaterialStock;
}

@readonly
service PricingService @(path: '/odata/v4/pricing') {
  entity ConditionRecord as projection on erp.ConditionRecord;
  entity Customer        as projection on erp.Customer;
}

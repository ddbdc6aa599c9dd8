"""Who may read what: the `aws_*` directives of every type and root field, in one place.

- Catalog, inventory, pricing: anyone the API admits (API key for anonymous heads, signed-in
  shoppers, staff, store devices).
- Carts and orders: the same modes reach the types; the resolvers then allow only the owner
  (the signed-in customer), staff, and store devices — guest carts and orders, which have no
  owner, are reached by their unguessable id (`resolvers/access.py`).
- Customers: signed-in callers only (never an API key), and again only the owner, staff or a
  store device.

AppSync drops a type's directives from root types built with `merge_types`, so root fields
carry their own. Every object type must be annotated: an unannotated type is reachable only
through the default mode (API_KEY).
"""

from schema.directives import AwsApiKey, AwsCognitoUserPools, AwsIam, AwsLambda, AwsOidc

# Tuples of directive instances, as `strawberry.type(directives=...)` takes them.
PUBLIC = (AwsApiKey(), AwsCognitoUserPools(), AwsOidc(), AwsIam(), AwsLambda())
SIGNED_IN = (AwsCognitoUserPools(), AwsOidc(), AwsIam(), AwsLambda())

"""The Lark grammar of the edrql language, shipped inside the wheel as edrql.grammar."""
